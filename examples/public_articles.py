"""Example articles about public life (weather, sports, science, local news, policy, health,
education): each generator returns (title, body).
"""

from __future__ import annotations

import datetime as _dt

from article_words import (  # beside this module
    MONTHS,
    REGIONS,
    TEAMS,
    UNIVERSITIES,
    Ctx,
    count_k,
    fit,
    money_m,
    poss,
    surname,
)


def weather(c: Ctx):
    rng = c.rng
    town = c.town()
    region = c.pick(REGIONS)
    forecaster = c.person()
    month = c.published.month
    if month in (12, 1, 2):
        kinds = ["storm", "snow", "flood", "fog", "frost"]
    elif month in (6, 7, 8):
        kinds = ["storm", "heatwave", "flood"]
    else:
        kinds = ["storm", "flood", "fog"]
    kind = rng.choice(kinds)
    if kind == "storm":
        gust = rng.randint(70, 140)
        rain = rng.randint(30, 120)
        title = f"Storm brings {gust} km/h gusts to {town}"
        req = [
            f"A storm swept across {region} overnight, with gusts of up to {gust} km/h recorded at {town}.",
            f"Up to {rain} millimetres of rain fell in twelve hours, and about {count_k(rng.randint(2, 40))} homes lost power.",
        ]
        advice = "stay away from the coast and avoid driving unless necessary"
    elif kind == "heatwave":
        temp = rng.randint(36, 46)
        title = f"{town} records {temp} degrees as heatwave continues"
        req = [
            f"Temperatures in {town} reached {temp} degrees Celsius on {c.weekday()}, the {rng.choice(['third', 'fourth', 'fifth', 'sixth'])} day of a heatwave across {region}.",
            f"Night-time temperatures stayed above {rng.randint(24, 29)} degrees, and cooling centres opened in {rng.randint(3, 18)} towns.",
        ]
        advice = "drink water regularly and check on elderly neighbours"
    elif kind == "snow":
        depth = rng.randint(15, 70)
        title = f"Heavy snow closes roads around {town}"
        req = [
            f"Up to {depth} centimetres of snow fell on {town} and {region}, closing {rng.randint(3, 25)} roads and {rng.randint(10, 90)} schools.",
            f"Rail services were cut by about half, and the regional airport cancelled {rng.randint(12, 140)} flights.",
        ]
        advice = "delay travel until gritting crews have cleared main routes"
    elif kind == "flood":
        river = rng.choice(["Avel", "Merrow", "Tane", "Kessel", "Ord"])
        rise = rng.uniform(1.2, 4.5)
        title = f"River {river} floods parts of {town}"
        req = [
            f"The River {river} rose {rise:.1f} metres above its normal level and burst its banks in {town} on {c.weekday()}.",
            f"Emergency crews evacuated {rng.randint(40, 900)} residents, and {rng.randint(2, 12)} bridges were closed as a precaution.",
        ]
        advice = "not walk or drive through flood water"
    elif kind == "fog":
        vis = rng.choice([50, 80, 100, 150, 200])
        title = f"Dense fog disrupts travel in {region}"
        req = [
            f"Dense fog cut visibility to {vis} metres across {region} on {c.weekday()} morning, delaying ferries and flights from {town}.",
            f"Police reported {rng.randint(4, 30)} minor collisions on the main highway before nine o'clock.",
        ]
        advice = "use dipped headlights and leave extra distance on the roads"
    else:
        low = -rng.randint(6, 22)
        title = f"Hard frost hits {town}, lowest reading {low} degrees"
        req = [
            f"Temperatures fell to {low} degrees Celsius in {town} overnight, the coldest reading of the season in {region}.",
            f"Burst water pipes were reported in {rng.randint(20, 300)} homes, and several bus routes were suspended because of ice.",
        ]
        advice = "protect outdoor pipes and watch for black ice"
    req.append(f'"People should {advice}," said {forecaster}, a forecaster with the national weather service.')
    optional = [
        f"A weather warning remains in place until {c.later_date(1, 3)}.",
        "Conditions are expected to ease by the weekend, with temperatures returning closer to the seasonal average.",
        f"Local authorities said they had {rng.randint(5, 60)} crews on standby.",
        f"It is the {rng.choice(['second', 'third', 'fourth'])} such event in {region} this year.",
        "Insurers said it was too early to estimate the cost of the damage.",
        f"Forecasters said the pattern was linked to {rng.choice(['a slow-moving low-pressure system', 'a blocking high over the continent', 'unusually warm sea temperatures'])}.",
    ]
    return title, fit(req, optional, rng)


def sports(c: Ctx):
    rng = c.rng
    home, away = rng.sample(TEAMS, 2)
    coach, s1, s2 = c.people(3)
    sport = rng.choice(["football", "basketball", "marathon"])
    if sport == "football":
        hg, ag = rng.randint(0, 4), rng.randint(0, 4)
        while hg == ag:
            ag = rng.randint(0, 4)
        win, lose = (home, away) if hg > ag else (away, home)
        wg, lg = max(hg, ag), min(hg, ag)
        title = f"{win} beat {lose} {wg}-{lg}"
        req = [
            f"{win} beat {lose} {wg}-{lg} on {c.weekday()} in front of {count_k(rng.randint(4, 48))} spectators at {poss(home)} home ground.",
            f"{s1} opened the scoring in the {rng.randint(3, 40)}th minute, and {s2} added {'another' if wg > 1 else 'a late chance that was saved'} after the break.",
            f"The result moves {win} to {rng.choice(['first', 'second', 'third', 'fourth', 'fifth'])} in the league with {rng.randint(6, 15)} games left.",
        ]
    elif sport == "basketball":
        hp = rng.randint(88, 124)
        ap = hp + rng.choice([-1, 1]) * rng.randint(1, 18)
        win, lose = (home, away) if hp > ap else (away, home)
        wp, lp = max(hp, ap), min(hp, ap)
        title = f"{win} hold off {lose} {wp}-{lp}"
        req = [
            f"{win} defeated {lose} {wp}-{lp} on {c.weekday()} night.",
            f"{s1} led all scorers with {rng.randint(22, 41)} points, and {s2} added {rng.randint(8, 16)} rebounds.",
            f"{lose} trailed by {rng.randint(12, 25)} points in the third quarter before a late run cut the gap.",
        ]
    else:
        win = s1
        mins = rng.randint(6, 22)
        secs = rng.randint(0, 59)
        title = f"{s1} wins the {c.town()} marathon in 2:{mins:02d}:{secs:02d}"
        req = [
            f"{s1} won the {title.split(' the ')[1].split(' in ')[0]} on {c.weekday()} in two hours, {mins} minutes and {secs} seconds, "
            f"{rng.randint(5, 90)} seconds ahead of {s2}.",
            f"About {count_k(rng.randint(3, 28))} runners started the race, which was held in {rng.choice(['cool, dry', 'humid', 'windy', 'wet'])} conditions.",
            f"The winning time was {rng.choice(['a course record', 'the second fastest in the event', 'slower than last year'])}.",
        ]
    req.append(
        f'"{rng.choice(["We stuck to the plan", "It was not pretty, but we got the job done", "The effort in the second half was outstanding", "There is still plenty to improve"])}," '
        f"said {coach}, {'head coach of ' + win if sport != 'marathon' else 'the winner' + chr(39) + 's coach'}."
    )
    optional = [
        f"The next fixture is on {c.later_date(3, 10)}.",
        f"{s2} left the field with a minor ankle injury and will be assessed this week.",
        f"It was the {rng.choice(['second', 'third', 'fifth'])} meeting between the sides this season.",
        "Ticket sales for the rest of the season have risen sharply, organisers said.",
        "Local broadcasters reported their largest audience of the year for the event.",
    ]
    return title, fit(req, optional, rng)


def science(c: Ctx):
    rng = c.rng
    lead, other = c.people(2)
    uni = c.pick(UNIVERSITIES)
    n = rng.choice([48, 120, 312, 860, 1500, 4200, 12000])
    topic = rng.choice(
        [
            (
                "a coating that slows battery wear",
                f"cells kept {rng.randint(80, 95)}% of their capacity after {rng.randint(800, 3000):,} charge cycles",
                "battery cells",
                "Materials Frontiers",
            ),
            (
                "a new species of cave beetle",
                f"the beetle is about {rng.randint(2, 9)} millimetres long and has no eyes",
                "specimens",
                "the Journal of Applied Ecology Letters",
            ),
            (
                "a link between late-night screen use and shorter sleep",
                f"participants slept on average {rng.randint(14, 46)} minutes less on nights with heavy screen use",
                "volunteers",
                "the Review of Sleep Medicine",
            ),
            (
                "a seagrass planting method",
                f"restored plots held {rng.randint(20, 70)}% more carbon after two years than bare seabed",
                "test plots",
                "Coastal Science Quarterly",
            ),
            (
                "a cheaper catalyst for producing hydrogen",
                f"the material costs about one-{rng.choice(['third', 'fifth', 'tenth'])} as much as platinum",
                "samples",
                "Energy Systems Research",
            ),
            (
                "a blood test for early kidney damage",
                f"the test detected damage about {rng.randint(6, 30)} months earlier than standard checks",
                "patients",
                "the Annals of Public Health Data",
            ),
            (
                "changes in songbird migration timing",
                f"birds now arrive on average {rng.randint(4, 15)} days earlier in spring than in the 1990s",
                "birds",
                "the Journal of Applied Ecology Letters",
            ),
            (
                "a faster way to detect leaks in water mains",
                f"the acoustic method located {rng.randint(70, 96)}% of known leaks in city pipes",
                "pipe sections",
                "Energy Systems Research",
            ),
        ]
    )
    what, finding, unit, journal = topic
    title = f"Researchers at {uni.replace('the ', '')} report {what}"
    title = title[0].upper() + title[1:]
    req = [
        f"Researchers at {uni} have reported {what}, in a study published this week in {journal}.",
        f"The team, led by {lead}, examined {n:,} {unit} and found that {finding}.",
        f'"{rng.choice(["The result surprised us", "This is an early step, not a finished product", "We need larger studies before drawing firm conclusions", "The effect was consistent across every group we looked at"])}," {surname(lead)} said.',
    ]
    optional = [
        f"{other}, who was not involved in the work, called the findings promising but said they need to be repeated by other groups.",
        f"The study was funded by a ${rng.randint(1, 9)}.{rng.randint(0, 9)} million public research grant.",
        f"The authors plan a follow-up study starting in {c.published.year + 1}.",
        "Data and code from the project have been made publicly available.",
        "The researchers noted that the work was limited to a single site and season.",
        f"{surname(lead)} said the next step is a trial {rng.choice(['outside the laboratory', 'with a larger and more diverse group', 'over several years'])}.",
    ]
    return title, fit(req, optional, rng)


def local(c: Ctx):
    rng = c.rng
    town = c.town()
    councillor, resident = c.people(2)
    project, detail, lo, hi = rng.choice(
        [
            ("a new public library", "with a children's wing and a community kitchen", 4, 18),
            ("a protected bike lane along the high street", "separated from traffic by planters", 0.8, 4),
            ("the renovation of the town swimming pool", "including a new roof and accessible changing rooms", 2, 9),
            ("a skate park in Riverside Park", "designed with input from local teenagers", 0.3, 1.2),
            (
                "the conversion of an old warehouse into affordable flats",
                f"providing {rng.randint(24, 140)} homes",
                6,
                30,
            ),
            ("a weekly farmers' market in the town square", "with space for up to 40 stalls", 0.1, 0.4),
            ("extended opening hours at the recycling centre", "including Sunday afternoons", 0.1, 0.6),
        ]
    )
    cost = rng.uniform(lo, hi)
    start = c.published + _dt.timedelta(days=rng.randint(30, 500))
    yes = rng.randint(7, 15)
    no = rng.randint(1, yes - 1)
    title = f"{town} council approves {project.replace('the ', '', 1) if project.startswith('the ') else project}"
    req = [
        f"{town} council voted {yes} to {no} on {c.weekday()} to approve {project}, {detail}.",
        f"The plan is expected to cost about ${cost:.1f} million, with {'work due to start' if rng.random() < 0.5 else 'the changes in place by'} {MONTHS[start.month - 1]} {start.year}.",
        f'"{rng.choice(["This is what residents asked us for", "It has taken years, but we got there", "This investment will pay off for decades"])}," said councillor {councillor}.',
    ]
    optional = [
        f'Some residents objected. "{rng.choice(["The money would be better spent fixing potholes", "Nobody asked the people who live on that street", "I worry about parking"])}," said {resident}, who lives nearby.',
        f"A public consultation drew {rng.randint(150, 3200):,} responses, about {rng.randint(55, 85)}% in favour.",
        f"Part of the funding comes from a regional grant of ${rng.randint(100, 900)} thousand.",
        f"Opponents have until {c.later_date(14, 40)} to request a review of the decision.",
        "The council will publish a detailed timetable next month.",
    ]
    return title, fit(req, optional, rng)


def policy(c: Ctx):
    rng = c.rng
    minister, critic, supporter = c.people(3)
    rule, who, cost = rng.choice(
        [
            (
                "require large employers to publish pay gaps by job level",
                "companies with more than 250 staff",
                "compliance costs",
            ),
            ("cap rent increases at 5% a year", "landlords with more than three properties", "lost rental income"),
            ("ban single-use plastic cutlery in restaurants", "food outlets of every size", "higher packaging costs"),
            ("double the tax credit for home insulation", "homeowners and small landlords", "lost tax revenue"),
            ("introduce a four-day school week pilot", "about 60 secondary schools", "childcare costs for parents"),
            ("require age checks on online gambling sites", "licensed operators", "verification costs"),
            ("allow pharmacists to prescribe for minor infections", "community pharmacies", "training costs"),
            ("raise the minimum wage by 6%", "about 1.4 million workers", "higher wage bills"),
            ("make bus travel free for under-18s", "regional transport operators", "lost fare income"),
            ("require new homes to include heat pumps", "housebuilders", "higher construction costs"),
            ("limit shop opening hours on public holidays", "retailers with more than 20 staff", "lost sales"),
        ]
    )
    when = f"{MONTHS[rng.randint(0, 11)]} {c.published.year + 1}"
    budget = rng.uniform(15, 900)
    title = rng.choice(
        [f"Government plans to {rule}", f"Ministers move to {rule} from {when}", f"New rules would {rule}"]
    )
    req = [
        f"The government on {c.weekday()} announced plans to {rule}, affecting {who}.",
        f"The measure would take effect in {when} and is expected to cost about {money_m(budget)} over four years, mostly in {cost}.",
        f'"{rng.choice(["This is a fair and practical step", "People have waited long enough for this", "We listened to the evidence and acted on it"])}," said minister {minister}.',
    ]
    optional = [
        f'{critic}, who speaks for the opposition, said the plan was "{rng.choice(["rushed and poorly costed", "a gimmick", "too timid to make a difference"])}".',
        f"{supporter} of a national consumer group welcomed the announcement but asked for clearer enforcement.",
        f"A public consultation will run for {rng.randint(6, 12)} weeks before legislation is drafted.",
        f"A similar rule introduced in a neighbouring country in {c.published.year - rng.randint(2, 6)} was later softened.",
        "Business groups said they had not been consulted on the details.",
        f"Officials estimate that {rng.randint(5, 60)}% of those affected already meet most of the requirements.",
    ]
    return title, fit(req, optional, rng)


def health(c: Ctx):
    rng = c.rng
    town = c.town()
    director, nurse = c.people(2)
    hospital = f"{town} General Hospital"
    kind = rng.choice(["waits", "vaccines", "clinic"] if c.published.month >= 9 else ["waits", "clinic", "staffing"])
    if kind == "waits":
        before = rng.randint(6, 20)
        after = before - rng.randint(1, max(1, before - 3))
        title = f"Waiting times at {hospital} fall to {after} weeks"
        req = [
            f"The average wait for planned surgery at {hospital} fell to {after} weeks in the last quarter, down from {before} weeks a year ago.",
            f"Hospital managers credited {rng.randint(2, 5)} new operating theatres and weekend lists.",
        ]
    elif kind == "vaccines":
        pct = rng.randint(41, 78)
        title = f"{pct}% of over-65s in {town} vaccinated as flu season begins"
        req = [
            f"About {pct}% of residents aged over 65 in {town} have received this season's flu vaccine, health officials said on {c.weekday()}.",
            f"That compares with {pct + rng.randint(-8, 8)}% at the same point last year; pharmacies have joined the campaign for the first time.",
        ]
    elif kind == "staffing":
        hired = rng.randint(30, 220)
        title = f"{hospital} hires {hired} nurses in recruitment drive"
        req = [
            f"{hospital} has hired {hired} nurses since {MONTHS[rng.randint(0, c.published.month - 1)]}, part of a drive to reduce its reliance on agency staff.",
            f"Spending on agency workers fell by {rng.randint(10, 45)}% over the same period, the hospital said.",
        ]
    else:
        title = f"New walk-in clinic opens in {town}"
        req = [
            f"A walk-in clinic opened in {town} on {c.weekday()}, offering treatment for minor injuries {rng.choice(['seven days a week', 'from 8 a.m. to 8 p.m.', 'on weekday evenings and weekends'])}.",
            f"Officials hope it will take about {rng.randint(40, 160)} patients a day away from the emergency department at {hospital}.",
        ]
    req.append(
        f'"{rng.choice(["Our staff have worked incredibly hard", "There is more to do, but the trend is right", "We want people to get care closer to home"])}," said {director}, the hospital\'s medical director.'
    )
    optional = [
        f"{nurse}, a senior nurse, said staffing remained tight, with {rng.randint(20, 140)} vacancies still unfilled.",
        f"The regional health board has set aside {money_m(rng.uniform(1, 40))} for the next phase.",
        "Patients can book appointments online or by phone.",
        f"Local patient groups said {rng.choice(['the change was overdue', 'they would watch closely whether the gains last', 'transport to the hospital remained a problem'])}.",
        f"A review of the programme is planned for {c.later_date(60, 200)}.",
    ]
    return title, fit(req, optional, rng)


def education(c: Ctx):
    rng = c.rng
    town = c.town()
    head, parent = c.people(2)
    school = f"{town} {rng.choice(['High School', 'Academy', 'Community College', 'Primary School'])}"
    kind = rng.choice(["results", "program", "funding"])
    if kind == "results":
        pass_rate = rng.randint(62, 97)
        prev = pass_rate - rng.randint(-6, 12)
        title = (
            f"{school} pass rate rises to {pass_rate}%"
            if pass_rate >= prev
            else f"{school} pass rate slips to {pass_rate}%"
        )
        req = [
            f"{pass_rate}% of students at {school} passed their final exams this year, compared with {prev}% last year.",
            f"Results in mathematics {rng.choice(['improved most', 'held steady', 'remained the weakest area'])}, the school said.",
        ]
    elif kind == "program":
        subj = rng.choice(["coding", "robotics", "financial literacy", "first aid", "Spanish", "climate science"])
        title = f"{school} adds compulsory {subj} classes"
        req = [
            f"{school} will make {subj} classes compulsory for all first-year students from next term.",
            f"The course runs for {rng.randint(1, 3)} hours a week and was designed with {rng.randint(2, 8)} local employers.",
        ]
    else:
        amt = rng.uniform(0.3, 12)
        title = f"{school} receives ${amt:.1f} million for new buildings"
        req = [
            f"{school} has been awarded ${amt:.1f} million to replace {rng.randint(3, 14)} temporary classrooms with a permanent building.",
            f"Construction is due to finish by {MONTHS[rng.randint(0, 11)]} {c.published.year + rng.randint(1, 2)}.",
        ]
    req.append(
        f'"{rng.choice(["Our students and teachers deserve the credit", "This gives our pupils skills they will actually use", "We have been asking for this for a long time"])}," said head teacher {head}.'
    )
    optional = [
        f"{parent}, whose {rng.choice(['son', 'daughter'])} attends the school, said families had been {rng.choice(['consulted early', 'left out of the discussion', 'broadly supportive'])}.",
        f"The school has {(pupils := rng.randint(300, 2200)):,} students and {pupils // rng.randint(12, 19)} teachers.",
        f"Enrolment has grown by {rng.randint(2, 18)}% over the past five years.",
        "The regional education office said it would use the school as a model for others.",
    ]
    return title, fit(req, optional, rng)
