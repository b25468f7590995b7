"""schemathesis hooks for .ci/schemathesis.sh.

A download's body is the artifact's bytes under the Content-Type it was
uploaded with (documented as `*/*`, `format: binary`). schemathesis picks a
deserializer by that Content-Type, so an artifact uploaded as
application/json or YAML whose bytes are not JSON or YAML would fail to
"deserialize". For the download operation only, the body is read as the
binary string it is documented as; every other operation's JSON and YAML
are read as usual.
"""

import schemathesis
from schemathesis.core import deserialization, media_types

DOWNLOAD = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}"


def _is_download(ctx, response) -> bool:
    operation = ctx.operation
    return operation.path == DOWNLOAD and operation.method.upper() == "GET" and response.status_code < 300


@schemathesis.deserializer("application/json")
def json_unless_download(ctx, response):
    if _is_download(ctx, response):
        return response.content.decode("latin-1")
    return response.json()


@schemathesis.deserializer(*media_types.YAML_MEDIA_TYPES)
def yaml_unless_download(ctx, response):
    if _is_download(ctx, response):
        return response.content.decode("latin-1")
    return deserialization.deserialize_yaml(response.content.decode(response.encoding or "utf-8"))
