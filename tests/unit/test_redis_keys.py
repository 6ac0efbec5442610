"""The Redis key registry (server/adapters/redis_keys.py): every family has a lifecycle, every
key the app builds belongs to a family, and no other module spells a key itself."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from server.adapters.redis_keys import (
    ERASABLE,
    ERASED_BY,
    FAMILIES,
    SCOPE_ID,
    Erasure,
    KeyFamily,
    RedisKeys,
    Retention,
    Scope,
)
from server.domain.adaptations import BY_NAME

ROOT = Path(__file__).resolve().parents[2]
KEYS = RedisKeys("t:")
# Where Redis is used: a key spelled here, not in the registry, would escape erasure.
REDIS_USERS = ("server/adapters", "server/services", "server/web", "server/sockets",
               "server/workers", "server/bootstrap.py", "server/app.py", "server/container.py")  # fmt: skip
REGISTRY = ROOT / "server" / "adapters" / "redis_keys.py"


def without_lifecycle(families: Iterable[KeyFamily]) -> list[str]:
    """Families with neither an erasure rule nor a retention rule."""
    return [f.name for f in families if f.erasure is None and not _retains(f.retention)]


def _retains(retention: Retention | None) -> bool:
    return retention is not None and bool(retention.ttl_s or retention.ttl_setting or retention.by)


def test_every_family_has_an_erasure_or_a_retention_rule() -> None:
    assert without_lifecycle(FAMILIES) == []


def test_the_lifecycle_check_bites() -> None:
    stray = KeyFamily("stray", "stray:{vid}", Scope.VISITOR, "a key someone forgot")
    empty = KeyFamily("empty", "empty:{vid}", Scope.VISITOR, "", None, Retention())
    assert without_lifecycle([*FAMILIES, stray, empty]) == ["stray", "empty"]


def test_names_and_patterns_are_unique() -> None:
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    assert len({f.pattern for f in FAMILIES}) == len(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_family_is_built_from_the_id_of_its_scope(family: KeyFamily) -> None:
    if family.scope in SCOPE_ID and family.erasure is not None:
        assert SCOPE_ID[family.scope] in family.placeholders
    if family.erasure in ERASED_BY:
        # Erasure finds the keys from the id the rule names: it must be the scope's.
        assert ERASED_BY[family.erasure] == SCOPE_ID.get(family.scope)
        assert set(family.placeholders) == {SCOPE_ID[family.scope]} | {
            name for name, _ in family.variants
        }


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_shoppers_key_is_erased_marks_the_erasure_or_expires(family: KeyFamily) -> None:
    if family.scope not in SCOPE_ID:
        return
    if family.erasure is None:  # left behind by erasure: only if it expires by itself
        assert family.retention is not None
        assert family.retention.ttl_s or family.retention.ttl_setting, family.name
    else:
        assert family.erasure in (*ERASED_BY, Erasure.MARKS_ERASURE), family.name


def test_erasure_builds_every_erasable_family_for_the_visitor() -> None:
    found = KEYS.of_visitor("V", {"S1", "S2"}, {"P"}).by_family
    assert set(found) == set(ERASABLE)
    assert found[next(f for f in ERASABLE if f.name == "persona")] == ["t:persona:V"]
    exposed = next(f for f in ERASABLE if f.name == "exposed")
    assert len(found[exposed]) == 2 * len(BY_NAME)
    assert "t:exposed:S2:tutorial" in found[exposed]
    assert found[next(f for f in ERASABLE if f.name == "rseen")] == ["t:rseen:P"]
    for family, keys in found.items():
        assert keys and all(KEYS.family_of(key) is family for key in keys), family.name


def test_every_key_the_registry_builds_parses_back_to_its_family() -> None:
    built = {
        "visit": KEYS.visit("v"), "persona": KEYS.persona("v"), "optout": KEYS.optout("v"),
        "triggered": KEYS.triggered("v"), "consent": KEYS.consent_flag("v"),
        "erased": KEYS.erased("v"), "agg:v": KEYS.aggregate("v", "v"),
        "ratelimit": KEYS.rate_limit("login", "ip", "::1", 7),
        "pstate": KEYS.visit_state("s"), "exposed": KEYS.exposed("s", "coupon"),
        "agg:s": KEYS.aggregate("s", "s"), "seen": KEYS.seen("p"),
        "rseen": KEYS.replay_seen("p"), "reach": KEYS.reach("p"), "vw": KEYS.viewport("p"),
        "events": KEYS.events_stream(), "writes": KEYS.write_stream(),
        "agg:h": KEYS.aggregate("h", "/x:3:4:2026-01-01"), "agg:d": KEYS.aggregate("d", "d:1"),
        "agg:f": KEYS.aggregate("f", "2026-01-01|desktop|explorer|treatment|/x"),
        "carry": KEYS.carry("s"),
        "agg:z": KEYS.aggregate("z", "2026-01-01|desktop|explorer|treatment|/|deals"),
        "agg:dirty": KEYS.aggregates_dirty(), "agg:framed": KEYS.aggregates_framed(),
        "agg:checkpoint-lock": KEYS.checkpoint_lock(), "health:workers": KEYS.heartbeats(),
        "socketio": KEYS.socketio_channel(), "login-failures": KEYS.login_failures("ada"),
        "trends": KEYS.trends(), "trends:ingest": KEYS.trends_ingest(),
        "trends:lock": KEYS.trends_lock(),
    }  # fmt: skip
    assert set(built) == {f.name for f in FAMILIES}
    for name, key in built.items():
        family = KEYS.family_of(key)
        assert family is not None and family.name == name, key
    assert KEYS.split_aggregate(KEYS.aggregate("h", "/x:3:4")) == ("h", "/x:3:4")
    assert KEYS.family_of("other:persona:v") is None
    assert RedisKeys("t:", "custom").events_stream() == "t:custom"


def test_keys_keep_the_names_they_had() -> None:
    # Existing deployments hold these keys: the registry must not rename them.
    assert KEYS.visit("v") == "t:visit:v"
    assert KEYS.exposed("s", "tutorial") == "t:exposed:s:tutorial"
    assert KEYS.rate_limit("apply_coupon", "vid", "v", 9) == "t:ratelimit:apply_coupon:vid:v:9"
    assert KEYS.login_failures("ada") == "t:login-failures:ada"
    assert KEYS.aggregate("s", "s1") == "t:agg:s:s1"
    assert KEYS.stem(next(f for f in FAMILIES if f.name == "erased")) == "t:erased:"
    assert KEYS.socketio_channel() == "t:socketio"
    assert KEYS.raw("restart-check") == "t:restart-check"


def _sources() -> Iterable[Path]:
    for name in REDIS_USERS:
        path = ROOT / name
        yield from (sorted(path.rglob("*.py")) if path.is_dir() else [path])


# A key spelled by hand: the prefix read or concatenated, or a literal family name.
HAND_BUILT = re.compile(r"key_prefix|\bprefix\s*\+|\{(?:self\.)?prefix\}|\bp \.\. '|\.key\(\"")


def test_no_module_builds_a_redis_key_by_hand() -> None:
    literals = [re.escape(f.stem) for f in FAMILIES if ":" in f.pattern]
    literal = re.compile("[\"'](?:" + "|".join(literals) + ")")
    offences = []
    for path in _sources():
        if path == REGISTRY:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "RedisKeys" in line:
                continue  # building the registry itself
            if HAND_BUILT.search(line) or literal.search(line):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offences == []


def test_docs_list_every_family() -> None:
    text = (ROOT / "docs" / "privacy.md").read_text()
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")}
    for family in FAMILIES:
        assert family.name in rows, family.name
        assert f"`{family.pattern.replace('{', '<').replace('}', '>')}`" in text, family.name
