"""Where artefact bytes live: a local directory (the default) or S3-compatible object storage (`s3://bucket/prefix`).

A location is a plain string, a path or an `s3://bucket/key` URL, so the registry stores it as it stores a path and
any worker, trainer or CLI reads it back from wherever it runs. S3 is reached with boto3's standard configuration
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION, and AWS_ENDPOINT_URL for MinIO or another compatible
service), so a deployment configures it the way it configures every other AWS client.

Missing objects raise FileNotFoundError and every other storage failure OSError, for both kinds: callers handle
a vanished file and a vanished object alike.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

S3 = "s3://"


def is_remote(location: str | Path) -> bool:
    return str(location).startswith(S3)


def join(base: str | Path, *names: str) -> str:
    """`base` (a directory or an s3:// prefix) with `names` appended."""
    if is_remote(base):
        return "/".join([str(base).rstrip("/"), *names])
    return str(Path(base).joinpath(*names))


def within(location: str | Path, base: str | Path) -> bool:
    """Whether `location` lies inside `base` (a directory or an s3:// prefix): a location read from the database
    must not name another file on the host (`/proc/self/environ`) or another bucket."""
    if is_remote(base) or is_remote(location):
        prefix = str(base).rstrip("/") + "/"
        return is_remote(location) and str(location).startswith(prefix) and ".." not in str(location).split("/")
    return Path(location).resolve().is_relative_to(Path(base).resolve())


def put(location: str | Path, data: bytes) -> None:
    """Write `data` whole: a reader sees the old bytes or all the new ones, never part of them."""
    if is_remote(location):
        bucket, key = _split(location)
        _call(location, lambda s3: s3.put_object(Bucket=bucket, Key=key, Body=data))
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def get(location: str | Path) -> bytes:
    if is_remote(location):
        bucket, key = _split(location)
        return _call(location, lambda s3: s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return Path(location).read_bytes()


def exists(location: str | Path) -> bool:
    if is_remote(location):
        bucket, key = _split(location)
        try:
            _call(location, lambda s3: s3.head_object(Bucket=bucket, Key=key))
        except FileNotFoundError:
            return False
        return True
    return Path(location).is_file()


def delete(location: str | Path) -> None:
    """Remove it; nothing happens when it is already gone."""
    if is_remote(location):
        bucket, key = _split(location)
        _call(location, lambda s3: s3.delete_object(Bucket=bucket, Key=key))
        return
    Path(location).unlink(missing_ok=True)


def _split(location: str | Path) -> tuple[str, str]:
    bucket, _, key = str(location)[len(S3):].partition("/")
    if not bucket or not key:
        raise OSError(f"{location} is not an object location: expected s3://bucket/prefix/name")
    return bucket, key


@functools.cache
def _client() -> Any:
    import boto3  # only deployments that use object storage pay for importing it

    return boto3.client("s3")


def _call(location: str | Path, action: Any) -> Any:
    """Run `action(client)`, turning boto's errors into FileNotFoundError / OSError that say what to fix."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return action(_client())
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(f"{location}: no such object") from None
        if code == "NoSuchBucket":
            raise OSError(f"{location}: the bucket does not exist; create it or fix the s3:// URL") from None
        raise OSError(f"{location}: object storage refused the request ({code}: "
                      f"{exc.response.get('Error', {}).get('Message', '')})") from None
    except NoCredentialsError:
        raise OSError(f"{location}: no credentials for object storage; set AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for MinIO)") from None
    except BotoCoreError as exc:
        raise OSError(f"{location}: object storage unreachable ({exc}); check AWS_ENDPOINT_URL") from None
