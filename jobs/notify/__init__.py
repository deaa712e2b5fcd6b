"""Telling people a run ended: a signed JSON POST to the spec's webhook, with retries; and the
ends a reader recorded without a spec, told by the next caller that holds one."""

from jobs.notify.pending import deliver_pending
from jobs.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, post_event, run_event, signature

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "deliver_pending", "post_event", "run_event", "signature"]
