"""The HTTP contract: the pydantic models that parse requests and describe replies, the route table (path,
method, who may call it), and the OpenAPI document generated from both. One definition serves the views, the
document at /openapi.json, the fuzz test and the client."""

__all__ = ["requests", "replies", "routes", "openapi", "parse"]
