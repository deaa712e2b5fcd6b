"""A run whose outputs often stopped at max_tokens says so: cut-off text is a silent wrong answer."""

from __future__ import annotations

from schemas.manifest import Manifest

# Above this share of ok outputs cut at max_tokens, run, show, status and the viewer warn.
TRUNCATED_SHARE = 0.1


def truncated_share(manifest: Manifest) -> float | None:
    """Share of the run's ok outputs that stopped at max_tokens (None: no ok output)."""
    ok = manifest.totals.outputs - manifest.totals.outputs_failed
    return manifest.totals.outputs_truncated / ok if ok else None


def truncation_warning(manifest: Manifest) -> str | None:
    """One line when many outputs were cut at max_tokens, unless the run asked for it (ignore_eos)."""
    share = truncated_share(manifest)
    if share is None or share < TRUNCATED_SHARE or manifest.sampling.get("ignore_eos"):
        return None
    ok = manifest.totals.outputs - manifest.totals.outputs_failed
    return (
        f"{share:.0%} of outputs ({manifest.totals.outputs_truncated} of {ok}) stopped at max_tokens "
        f"{manifest.sampling.get('max_tokens')} (finish_reason length): their text is cut off; raise "
        "sampling.max_tokens or ask the prompt for shorter text"
    )
