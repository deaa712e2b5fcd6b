"""`python -m workers.models` prepares the default model and prints its directory (`make setup`)."""

from workers.models.default_model import main

main()
