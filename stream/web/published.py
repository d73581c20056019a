"""What a worker publishes about itself: the OpenAPI document, a browsable page of it (vendored Swagger UI, no
CDN), and the files a web page includes (`recstream.js`)."""

from __future__ import annotations

import json
from functools import cache, cached_property
from importlib import metadata
from importlib.resources import files

from recstream.stream.web.contract.openapi import document
from recstream.stream.web.reply import Reply

#: name -> (where under static/, content type): nothing else is served from there
STATIC = {"recstream.js": ("recstream.js", "text/javascript"),
          "docs.js": ("docs.js", "text/javascript"),
          "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript"),
          "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css")}
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>recstream API</title>
<link rel="stylesheet" href="/static/swagger-ui.css"></head>
<body><div id="api"></div>
<script src="/static/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script></body></html>
"""
#: Swagger UI styles elements inline and shows data: images; it loads nothing from elsewhere
DOCS_HEADERS = (("Content-Security-Policy", ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                             "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                                             "base-uri 'none'")),
                ("X-Content-Type-Options", "nosniff"))


def version() -> str:
    try:
        return metadata.version("recstream")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Published:
    @cached_property
    def _document(self) -> bytes:
        return json.dumps(document(version()), separators=(",", ":")).encode()

    def document(self) -> Reply:
        return Reply(200, self._document, headers=(("Access-Control-Allow-Origin", "*"),))

    def docs_page(self) -> Reply:
        return Reply.html(DOCS_PAGE, headers=DOCS_HEADERS)

    def file(self, name: str) -> Reply:
        known = STATIC.get(name)
        if known is None:
            return Reply.error(f"no file {name[:80]!r}: /static/ serves {', '.join(sorted(STATIC))}", 404)
        where, content_type = known
        return Reply(200, _read(where), content_type, (("Cache-Control", "max-age=3600"), ("X-Content-Type-Options", "nosniff"),
                                               ("Access-Control-Allow-Origin", "*")))


@cache
def _read(where: str) -> bytes:
    return files("recstream.stream.web").joinpath("static", *where.split("/")).read_bytes()
