"""Task presets: the defaults each `task.kind` supplies, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.spec import TaskKind


@dataclass(frozen=True)
class Preset:
    """Default system prompt and prompt template for one task kind."""

    system: str | None
    prompt: str | None


PRESETS: dict[TaskKind, Preset] = {
    TaskKind.SUMMARY: Preset(
        system="You are a careful editor. You write short, factual summaries.",
        prompt="Summarize the following text in one or two sentences.\n\n{{ text }}",
    ),
    TaskKind.REPORT: Preset(
        system="You are an analyst who writes clear, structured reports from notes.",
        prompt="Write a short report (a title line, then three bullet points) from these notes.\n\n{{ text }}",
    ),
    TaskKind.CAPTION: Preset(
        system="You describe images in one plain sentence.",
        prompt="Write a one-sentence caption for this image.",
    ),
    TaskKind.LABEL: Preset(
        system="You classify text. Answer with the label only.",
        prompt="Label the following text.\n\n{{ text }}",
    ),
    TaskKind.CUSTOM: Preset(system=None, prompt=None),
}


def resolve_task(*, kind: str, system: str | None, prompt: str | None) -> Preset:
    """The task's system prompt and template after the spec's overrides."""
    preset = PRESETS[kind]
    return Preset(
        system=system if system is not None else preset.system,
        prompt=prompt if prompt is not None else preset.prompt,
    )
