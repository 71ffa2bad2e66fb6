"""Regenerate the gRPC stubs of the Open Inference Protocol from service/v2/proto/.

    python scripts/generate_v2_stubs.py

runs, from the repository root (so the stubs import each other as `service.v2.proto...`):

    python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
        service/v2/proto/grpc_predict_v2.proto

The proto is KServe's `docs/predict-api/v2/grpc_predict_v2.proto`, unchanged. The generated
files are committed; rerun this after changing grpcio-tools or the proto.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[1]
PROTO = "service/v2/proto/grpc_predict_v2.proto"


def main() -> int:
    args = ["grpc_tools.protoc", "-I", ".", "--python_out=.", "--pyi_out=."]
    args += ["--grpc_python_out=.", PROTO]
    os.chdir(REPO)
    return int(protoc.main(args))


if __name__ == "__main__":
    sys.exit(main())
