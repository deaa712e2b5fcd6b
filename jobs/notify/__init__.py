"""Telling people a run ended: a signed JSON POST to the spec's webhook, with retries."""

from jobs.notify.webhook import SIGNATURE_HEADER, post_event, run_event, signature

__all__ = ["SIGNATURE_HEADER", "post_event", "run_event", "signature"]
