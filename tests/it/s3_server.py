"""A real S3 server on loopback for the object-storage tests: moto's server mode
(from PyPI, `pip install "moto[server]"`), with credential checking on.

Usage: s3_server.py REQUEST_LOG SLOW_FLAG COPY_FLAG BUCKET...

moto checks every request's signature against the IAM users it knows once
INITIAL_NO_AUTH_ACTION_COUNT requests have passed: the first three create a user
with an access key and an allow-all policy, and every later request must be signed
with that key. The buckets named are then created with it.

Every request is appended to REQUEST_LOG as `METHOD PATH` (path-style:
`/bucket/key`), so tests count downloads and uploads on the server's side. While the
file SLOW_FLAG exists, each PUT waits 30 s before it is served, so a test can stop a
worker in the middle of its uploads. While the file COPY_FLAG exists, each
server-side copy (CopyObject) fails with the status it holds, as servers and loads
make it fail: 404 (NoSuchKey, as if the source were missing) or 503 (SlowDown).

Prints one JSON line (endpoint, access key id, secret), then serves until stdin
closes.
"""

import json
import os
import sys
import threading
import time

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"

import boto3  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

# S3 checks a signature against the path and query exactly as the client sent them
# (already percent-encoded: `cell=7` as `cell%3D7`, a `prefix` of `a/b` as `a%2Fb`);
# moto checks it against the URL as werkzeug rebuilds it, decoded and re-quoted
# differently, and so refuses every key with a `=` (Hive partitions, key=value
# folders) or a `%`, and every listing of a nested prefix. Check it as S3 does: the
# raw request URI, which the middleware below keeps for the request's thread.
_raw = threading.local()
_s3_request_init = access_control.S3IAMRequest.__init__


def _s3_request_init_as_sent(self, *args, **kwargs):
    _s3_request_init(self, *args, **kwargs)
    raw = getattr(_raw, "uri", None)
    if raw:
        self._path = raw


access_control.S3IAMRequest.__init__ = _s3_request_init_as_sent

REGION = "us-east-1"

# What a failed copy answers, by the status COPY_FLAG holds.
COPY_FAILURES = {
    "404": ("404 Not Found", "NoSuchKey"),
    "503": ("503 Slow Down", "SlowDown"),
}


def failed_copy(copy_flag, start_response):
    with open(copy_flag) as flag:
        status, code = COPY_FAILURES[flag.read().strip()]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>copies fail in this test</Message></Error>"
    ).encode()
    start_response(
        status,
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


def main() -> None:
    request_log, slow_flag, copy_flag = sys.argv[1:4]
    buckets = sys.argv[4:]
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def logged(environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        _raw.uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        with lock, open(request_log, "a") as log:
            log.write(f"{method} {path}\n")
        if method == "PUT" and os.path.exists(slow_flag):
            time.sleep(30)
        if (
            method == "PUT"
            and "HTTP_X_AMZ_COPY_SOURCE" in environ
            and os.path.exists(copy_flag)
        ):
            return failed_copy(copy_flag, start_response)
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, logged, threaded=True)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    bootstrap = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam = boto3.client("iam", **bootstrap)
    iam.create_user(UserName="harvester")
    iam.put_user_policy(
        UserName="harvester",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="harvester")["AccessKey"]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    # The setup's own requests are not the tests' to count.
    open(request_log, "w").close()
    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "access_key_id": key["AccessKeyId"],
                "secret_access_key": key["SecretAccessKey"],
                "region": REGION,
            }
        ),
        flush=True,
    )
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
