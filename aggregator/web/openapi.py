"""The OpenAPI 3.1 document of ``/api/v1`` (served at ``/api/v1/openapi.json``).

The tests validate every API response against the schemas here, so this document and the code
cannot drift apart silently.
"""

from __future__ import annotations

MAX_PAGE = 100_000
MAX_PER_PAGE = 100
MAX_QUERY = 500


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(desc: str, schema: dict) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _err(desc: str) -> dict:
    return _ok(desc, _ref("Error"))


def _page_of(item: dict, key: str, extra: dict | None = None) -> dict:
    props = {
        key: {"type": "array", "items": item},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "total": {"type": "integer", "minimum": 0},
        "next": {"type": ["string", "null"], "description": "URL of the next page, null on the last"},
    }
    props.update(extra or {})
    return {
        "type": "object",
        "required": [key, "page", "per_page", "total", "next"],
        "additionalProperties": False,
        "properties": props,
    }


PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    {"name": "per_page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}},
]
STORY_ID = {"name": "story_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 0}}


def openapi_document(site_name: str) -> dict:
    source = {
        "type": "object",
        "required": ["article_id", "outlet", "title", "url", "raw_url", "role", "first_seen"],
        "properties": {
            "article_id": {"type": "integer"},
            "outlet": {"type": "string"},
            "feed": {"type": "string"},
            "title": {"type": "string"},
            "url": {"type": ["string", "null"], "description": "http(s) link, null otherwise"},
            "raw_url": {"type": "string", "description": "the URL as stored; untrusted"},
            "author": {"type": "string"},
            "published": {"type": ["string", "null"], "format": "date-time"},
            "first_seen": {"type": "string", "format": "date-time"},
            "role": {"type": "string", "examples": ["wire", "copy", "report"]},
            "reuse": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "copy_of": {"type": ["integer", "null"]},
            "wire": {"type": ["string", "null"]},
        },
    }
    story = {
        "type": "object",
        "required": ["id", "url", "title", "lead", "first_seen", "updated", "outlets", "sources"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "title": {"type": "string"},
            "lead": {"type": "string"},
            "first_seen": {"type": "string", "format": "date-time"},
            "updated": {"type": "string", "format": "date-time",
                        "description": "moves when a source joins the story"},
            "outlets": {"type": "array", "items": {"type": "string"}},
            "outlet_count": {"type": "integer"},
            "independent_reports": {"type": "integer"},
            "sources_line": {"type": "string"},
            "sources": {"type": "array", "items": _ref("Source")},
            "text": {"type": "string", "description": "canonical text (single story only)"},
            "text_from": {"type": ["integer", "null"]},
        },
    }
    hit = {
        "type": "object",
        "required": ["story", "snippet"],
        "additionalProperties": False,
        "properties": {
            "story": _ref("Story"),
            "snippet": {"type": "string", "description": "plain text; matches between [[ and ]]"},
        },
    }
    feed = {
        "type": "object",
        "required": ["name", "outlet", "url", "tags", "state", "articles"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "outlet": {"type": "string"},
            "url": {"type": ["string", "null"], "description": "http(s) URL of the feed"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "state": {"type": "string", "enum": ["active", "disabled", "failing", "removed", "off"]},
            "last_fetch": {"type": ["string", "null"], "format": "date-time"},
            "last_status": {"type": ["integer", "null"]},
            "next_check": {"type": ["string", "null"], "format": "date-time"},
            "articles": {"type": "integer"},
        },
    }
    error = {
        "type": "object",
        "required": ["error", "status"],
        "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
    }
    filters = [
        {"name": "outlet", "in": "query", "schema": {"type": "string"},
         "description": "only stories this outlet carried"},
        {"name": "tag", "in": "query", "schema": {"type": "string"},
         "description": "only stories carried by a feed with this tag"},
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{site_name} API",
            "version": "1",
            "description": "Merged news stories: every story lists all the outlets that carried it.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/stories": {
                "get": {
                    "operationId": "listStories",
                    "summary": "Stories in front-page order (coverage and recency)",
                    "parameters": PAGING + filters,
                    "responses": {
                        "200": _ok("a page of stories", _page_of(_ref("Story"), "stories")),
                        "400": _err("bad paging parameters"),
                    },
                }
            },
            "/api/v1/stories/{story_id}": {
                "get": {
                    "operationId": "getStory",
                    "summary": "One merged story with its canonical text and every source",
                    "parameters": [STORY_ID],
                    "responses": {
                        "200": _ok("the story", _ref("Story")),
                        "301": {"description": "the story was merged; Location names the live one"},
                        "404": _err("no story has that id"),
                    },
                }
            },
            "/api/v1/stories/{story_id}/sources": {
                "get": {
                    "operationId": "listSources",
                    "summary": "Every source of a story, earliest first",
                    "parameters": [STORY_ID],
                    "responses": {
                        "200": _ok("the sources", {
                            "type": "object",
                            "required": ["story_id", "sources"],
                            "additionalProperties": False,
                            "properties": {
                                "story_id": {"type": "integer"},
                                "sources": {"type": "array", "items": _ref("Source")},
                            },
                        }),
                        "301": {"description": "the story was merged; Location names the live one"},
                        "404": _err("no story has that id"),
                    },
                }
            },
            "/api/v1/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Stories whose articles match a query, best first",
                    "description": 'Words are all required; "quoted words" are a phrase; word* '
                                   "is a prefix. No other syntax: any text is a valid query.",
                    "parameters": [
                        {"name": "q", "in": "query", "required": True,
                         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY}},
                        {"name": "outlet", "in": "query", "schema": {"type": "string"}},
                        *PAGING,
                    ],
                    "responses": {
                        "200": _ok("a page of results",
                                   _page_of(_ref("SearchHit"), "results", {"query": {"type": "string"}})),
                        "400": _err("missing or too long query, or bad paging parameters"),
                    },
                }
            },
            "/api/v1/feeds": {
                "get": {
                    "operationId": "listFeeds",
                    "summary": "The feeds polled, with their state",
                    "parameters": PAGING,
                    "responses": {
                        "200": _ok("a page of feeds", _page_of(_ref("Feed"), "feeds")),
                        "400": _err("bad paging parameters"),
                    },
                }
            },
        },
        "components": {
            "schemas": {"Story": story, "Source": source, "SearchHit": hit, "Feed": feed, "Error": error}
        },
    }
