"""Reading ``feeds.yaml``: the operator's feed list.

Every problem is reported with the file, line and key it concerns, and all problems are reported
at once (an operator fixing a file should not have to run the check ten times). We walk PyYAML's
node tree rather than the loaded dict because only the nodes remember line numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from .models import FeedConfig

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
KEYS = {"name", "url", "outlet", "interval", "enabled", "tags", "insecure_tls"}
MIN_INTERVAL = 60
MAX_INTERVAL = 7 * 86400


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """feeds.yaml is unusable; ``problems`` lists every reason with file:line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_feeds(path: str | Path) -> list[FeedConfig]:
    """Read and validate a feeds file; raise ConfigError naming every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), 0, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), 0, "", f"cannot read: {exc}")]) from None
    return parse_feeds(text, str(path))


def parse_feeds(text: str, filename: str = "feeds.yaml") -> list[FeedConfig]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError([Problem(filename, line, "", f"invalid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(filename, 0, "", f"invalid YAML: {exc}")]) from None

    problems: list[Problem] = []

    def bad(node: yaml.Node | None, key: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        problems.append(Problem(filename, line, key, message))

    items: list[yaml.Node] = []
    if root is None:
        bad(None, "feeds", "the file is empty; expected a 'feeds:' list")
    elif isinstance(root, yaml.MappingNode):
        top = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        for k, _ in root.value:
            if k.value != "feeds":
                bad(k, str(k.value), "unknown top-level key (expected 'feeds')")
        feeds_node = top.get("feeds")
        if feeds_node is None:
            bad(root, "feeds", "missing 'feeds:' list")
        elif not isinstance(feeds_node, yaml.SequenceNode):
            bad(feeds_node, "feeds", "must be a list of feed entries")
        else:
            items = feeds_node.value
    elif isinstance(root, yaml.SequenceNode):
        items = root.value  # a bare list is accepted too
    else:
        bad(root, "feeds", "expected a 'feeds:' list")

    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    for item in items:
        feed = _entry(item, filename, bad)
        if feed is None:
            continue
        if feed.name in seen:
            bad(item, "name", f"duplicate feed name {feed.name!r} (first at line {seen[feed.name]})")
            continue
        seen[feed.name] = feed.line
        feeds.append(feed)
    if problems:
        raise ConfigError(problems)
    return feeds


def _entry(item: yaml.Node, filename: str, bad) -> FeedConfig | None:
    if not isinstance(item, yaml.MappingNode):
        bad(item, "", "each feed must be a mapping with name, url and outlet")
        return None
    fields: dict[str, yaml.Node] = {}
    ok = True
    for k, v in item.value:
        key = str(k.value)
        if key not in KEYS:
            bad(k, key, f"unknown key (allowed: {', '.join(sorted(KEYS))})")
            ok = False
        fields[key] = v
    for required in ("name", "url", "outlet"):
        if required not in fields:
            bad(item, required, "missing (required)")
            ok = False

    def scalar(key: str) -> str | None:
        node = fields.get(key)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            bad(node, key, "must be a non-empty string")
            return None
        return str(node.value)

    name, url, outlet = scalar("name"), scalar("url"), scalar("outlet")
    if name is not None and not NAME_RE.match(name):
        bad(fields["name"], "name", "use lower-case letters, digits, '.', '_' or '-' (max 80)")
        ok = False
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            bad(fields["url"], "url", f"must be an http(s) URL, got {url!r}")
            ok = False

    interval = None
    if "interval" in fields:
        node = fields["interval"]
        interval = _interval(node.value if isinstance(node, yaml.ScalarNode) else None)
        if interval is None or not MIN_INTERVAL <= interval <= MAX_INTERVAL:
            bad(node, "interval",
                f"must be seconds (or '15m', '2h') between {MIN_INTERVAL} and {MAX_INTERVAL}")
            ok = False

    def flag(key: str, default: bool) -> bool:
        nonlocal ok
        if key not in fields:
            return default
        node = fields[key]
        value = node.value.lower() if isinstance(node, yaml.ScalarNode) else None
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        bad(node, key, "must be true or false")
        ok = False
        return default

    enabled = flag("enabled", True)
    insecure_tls = flag("insecure_tls", False)

    tags: tuple[str, ...] = ()
    if "tags" in fields:
        node = fields["tags"]
        if isinstance(node, yaml.SequenceNode) and all(
            isinstance(t, yaml.ScalarNode) and t.value for t in node.value
        ):
            tags = tuple(str(t.value) for t in node.value)
        else:
            bad(node, "tags", "must be a list of strings, e.g. [news, world]")
            ok = False

    if not ok or name is None or url is None or outlet is None:
        return None
    return FeedConfig(
        name=name, url=url, outlet=outlet, interval=interval, enabled=enabled, tags=tags,
        insecure_tls=insecure_tls, source_file=filename, line=item.start_mark.line + 1,
    )


def _interval(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
