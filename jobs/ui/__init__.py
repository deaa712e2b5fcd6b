"""`pressroom ui`: a read-only web viewer of committed runs for reviewers.

Jobs and their nights, one run's manifest and paged rows (filters, search, images for
captions), and two runs compared. Everything is read through `jobs.query`: committed manifests
and the files they list, local or S3; nothing is ever written.
"""

from jobs.ui.app import create_app

__all__ = ["create_app"]
