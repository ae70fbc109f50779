"""OpenAPI post-processing: every error response is documented as what it is,
application/problem+json (RFC 9457), not the renderers' application/json."""

from __future__ import annotations

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_media_type(result, generator, request, public):
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if str(status)[:1] in ("4", "5") and content and "application/json" in content:
                    response["content"] = {PROBLEM_MEDIA_TYPE: content["application/json"]}
    return result
