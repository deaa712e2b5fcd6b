"""The message-based Request (issue 33's first slice): a template row is the one-turn conversation,
a conversation's every turn reaches the chat template, and the key layout keeps template rows' keys."""

from __future__ import annotations

import pytest

from workers.engines import Message, Request, image_prompt_text
from workers.render import conversation_sha256, prompt_sha256

TURNS = (
    Message("system", "Answer in one line."),
    Message("user", "What is the capital of France?"),
    Message("assistant", "Paris."),
    Message("user", "And of Italy?"),
)


def test_a_template_row_is_the_one_turn_conversation():
    request = Request.from_prompt("Be brief.", "Summarize: rain.", "a")
    assert request.messages == (Message("system", "Be brief."), Message("user", "Summarize: rain."))
    assert (request.system, request.prompt, request.adapter) == ("Be brief.", "Summarize: rain.", "a")
    assert request.chat() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarize: rain."},
    ]
    assert request.plain_text() == "Be brief.\n\nSummarize: rain."
    bare = Request.from_prompt(None, "hi")
    assert (bare.messages, bare.system, bare.plain_text()) == ((Message("user", "hi"),), None, "hi")


def test_a_conversation_keeps_every_turn_in_order():
    request = Request(TURNS)
    assert [m["role"] for m in request.chat()] == ["system", "user", "assistant", "user"]
    assert (request.system, request.prompt) == ("Answer in one line.", "And of Italy?")  # the last user turn


class RecordingTemplate:
    """A chat template owner that keeps what it was given (and may refuse a system role, as some do)."""

    def __init__(self, *, system_role: bool = True):
        self.system_role = system_role
        self.seen: list[list[dict]] = []

    def apply_chat_template(self, chat, *, add_generation_prompt: bool, tokenize: bool) -> str:
        if not self.system_role and chat[0]["role"] == "system":
            raise ValueError("System role not supported")
        self.seen.append(chat)
        return "rendered"


def test_the_image_goes_first_in_the_last_user_turn_and_a_system_text_folds_in_when_refused():
    owner = RecordingTemplate()
    image_prompt_text(owner, Request(TURNS, image=b"png"))
    (chat,) = owner.seen
    assert [c["content"][0] for c in chat] == [{"type": "text", "text": t.content} for t in TURNS[:3]] + [
        {"type": "image"}
    ]
    refusing = RecordingTemplate(system_role=False)
    image_prompt_text(refusing, Request.from_prompt("Be brief.", "Caption this.", image=b"png"))
    assert refusing.seen == [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Be brief.\n\nCaption this."}]}]
    ]


@pytest.mark.parametrize(("system", "prompt"), [(None, "hi"), ("Be brief.", "Summarize: rain."), ("", "only a prompt")])
def test_a_one_turn_conversation_keeps_the_template_rows_key(system, prompt):
    turns = [("system", system)] if system else []
    assert conversation_sha256([*turns, ("user", prompt)]) == prompt_sha256(system=system, prompt=prompt)


def test_a_longer_conversation_keys_every_turn_and_their_order():
    turns = [(m.role, m.content) for m in TURNS]
    key = conversation_sha256(turns)
    assert key != prompt_sha256(system=TURNS[0].content, prompt=TURNS[-1].content)  # not just the ends
    assert key != conversation_sha256([turns[0], turns[1], ("assistant", "Rome."), turns[3]])
    assert key != conversation_sha256([turns[0], turns[2], turns[1], turns[3]])
    assert key == conversation_sha256(list(turns))  # and stable
