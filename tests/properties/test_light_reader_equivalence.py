"""The batch path's light episode reader accepts only what ``parse_episode`` accepts, with the
same values; and a batch gives the same results and error records on either path.

Records are generated valid episodes, then sometimes damaged: a value swapped for an odd one
(a date-time, an impossible date, an alias, a bool for a number, a blank id, 1441 minutes...),
a key removed or made up, a key repeated in the text, a number beyond float range written in.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from cocm_rules import Engine, InvalidInput, parse_episode
from cocm_rules._units import UNITS
from cocm_rules.episode import CONTACT_ROLES, SMOKING_STATUSES
from cocm_rules.light_episode import LightEpisode, read_light
from cocm_rules.records import RecordError, iter_episodes, iter_light_episodes
from cocm_rules.strategies import AS_OF, episodes

ENGINE = Engine.load()
SLOW = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Values that sit at the edge of what an episode field allows.
EDGE = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            1440,
            1441,
            3.0,
            2.5,
            1e308,
            1.7976931348623157e308,
            10**20,
            "",
            " ",
            "\t",
            "P1\x00",
            "P1\u2028",
            "2026-11-02",
            "2026-02-30",
            "2026-1-02",
            "0000-01-01",
            "2026-11-02T23:30:00-05:00",
            "2026-11-02 10:30",
            "2026-11-02\n",
            "PHQ-9",
            "phq9",
            "44249-1",
            "gad7",
            "pending",
            "housing",
            "homeless",
            "stable",
            "employed",
            "follow_up",
            "video",
            "cocm",
            "smi",
            "active_treatment",
            "female",
            "assessment",
            [],
            {},
            [1, 2],
            {"item9": 1},
            {"sex": "female"},
            "care_manager",
            "psychiatric_consultant",
            "pcp",
            "99484",
            "G0512",
            "9948",
            "99484\n",
            "g0512",
            "smoking_status",
            "body_weight",
            "hba1c",
            "kg",
            "[lb_av]",
            "mg/dL",
            "mg/dl",
            "mmol/L",
            "mmol/mol",
            "%",
            "KG",
            "current",
            "former",
            "antipsychotic",
            "consent",
            "observation",
            10**400,
            5e-324,
            -0.0,
        ]
    ),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@st.composite
def _with_the_newer_fields(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with, at random, contact roles, a consent date, billed services, medical
    observations (every kind, in each unit it accepts, and the smoking status) and
    medications: the fields the Episode gained after the light reader was written."""
    record = copy.deepcopy(record)
    day = st.dates(AS_OF - dt.timedelta(days=400), AS_OF + dt.timedelta(days=10)).map(dt.date.isoformat)
    for contact in record["contacts"]:
        role = draw(st.sampled_from((None, *CONTACT_ROLES)), label="role")
        if role is not None:
            contact["role"] = role
    if draw(st.booleans(), label="consent"):
        record["consent_date"] = draw(day)
    if draw(st.booleans(), label="billed"):
        record["billed_services"] = [
            {"code": draw(st.sampled_from(("99484", "99492", "G0512")), label="code"), "date": draw(day)}
            for _ in range(draw(st.integers(1, 3)))
        ]
    if draw(st.booleans(), label="observed"):
        observations = []
        for _ in range(draw(st.integers(1, 5))):
            kind = draw(st.sampled_from((*UNITS, "smoking_status")), label="kind")
            o: dict[str, Any] = {"date": draw(day), "kind": kind}
            if kind == "smoking_status":
                o["status"] = draw(st.sampled_from(SMOKING_STATUSES), label="status")
            else:
                o["value"] = draw(
                    st.one_of(st.integers(1, 400), st.floats(0.1, 400.0)).filter(lambda x: x > 0), label="value"
                )
                o["unit"] = draw(st.sampled_from(sorted(UNITS[kind])), label="unit")
            if draw(st.booleans()):
                o["id"] = draw(st.from_regex(r"obs-[0-9]{1,3}", fullmatch=True))
            observations.append(o)
        record["observations"] = observations
    if draw(st.booleans(), label="medicated"):
        medications = []
        for _ in range(draw(st.integers(1, 2))):
            start = draw(st.dates(AS_OF - dt.timedelta(days=400), AS_OF))
            m: dict[str, Any] = {"kind": "antipsychotic", "start_date": start.isoformat()}
            if draw(st.booleans()):
                m["stop_date"] = draw(st.dates(start, AS_OF + dt.timedelta(days=30))).isoformat()
            if draw(st.booleans()):
                m["name"] = draw(st.sampled_from(("aripiprazole", "olanzapine")))
            medications.append(m)
        record["medications"] = medications
    return record


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value of the episode's own fields (not inside answers or a context,
    which the scorer reads, not the episode reader)."""
    out = [prefix]
    if prefix and prefix[-1] in ("answers", "context"):
        return out
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _damaged(data: st.DataObject, record: dict[str, Any]) -> str:
    """The JSON text of ``record``, with zero to two values swapped, removed or made up, and
    sometimes a repeated key or a number beyond float range in the text."""
    value = copy.deepcopy(record)
    for _ in range(data.draw(st.integers(0, 2), label="changes")):
        path = data.draw(st.sampled_from([p for p in _paths(value)[1:] if isinstance(p[-1], str)]), label="path")
        holder = value
        for part in path[:-1]:
            holder = holder[part]
        action = data.draw(st.sampled_from(("swap", "swap", "delete", "add")), label="action")
        if action == "delete" and isinstance(holder, dict):
            del holder[path[-1]]
        elif action == "add" and isinstance(holder, dict):
            holder[data.draw(st.sampled_from(["extra", "Status", "dates", "answer"]), label="key")] = 1
        else:
            holder[path[-1]] = data.draw(EDGE, label="value")
    text = _dumps(value)
    trick = data.draw(st.sampled_from(("none", "none", "repeat", "huge", "tiny")), label="trick")
    if trick == "repeat":
        text = text.replace('"status": ', '"status": "inactive", "status": ', 1)
    elif trick == "huge":
        text = text.replace('"minutes": ', '"minutes": 1e400, "x": ', 1)
        text = text.replace('"total": ', '"total": 1e400, "y": ', 1)
    elif trick == "tiny":
        text = text.replace('"minutes": ', '"minutes": 1e-400, "x": ', 1)
    return text


def _dumps(value: Any) -> str:
    """JSON text as a host writes it (an odd answer such as bytes as its repr)."""
    return json.dumps(value, default=repr)


def _plain(light: Any) -> Any:
    """A light episode as plain values (what ``Episode.model_dump()`` gives); an Episode (a
    record the light path left to ``parse_episode``) as its own."""
    if isinstance(light, BaseModel):
        return light.model_dump()
    if isinstance(light, msgspec.Struct):
        return {f: _plain(getattr(light, f)) for f in light.__struct_fields__}
    if isinstance(light, list):
        return [_plain(x) for x in light]
    if isinstance(light, dict):
        return {k: _plain(v) for k, v in light.items()}
    return light


@SLOW
@given(record=episodes(), data=st.data())
def test_the_light_reader_accepts_only_what_parse_episode_accepts_with_equal_values(
    record: dict[str, Any], data: st.DataObject
) -> None:
    """Whatever the text, when ``read_light`` gives an episode, ``parse_episode`` of the same
    text gives an Episode with exactly the same values; an untouched generated record is
    always read by the light path (so the property is not vacuous)."""
    record = data.draw(_with_the_newer_fields(record), label="record")
    text = _damaged(data, record)
    light = read_light(text)
    try:
        expected: Any = parse_episode(text).model_dump()
    except InvalidInput as e:
        expected = e
    if light is not None:
        assert isinstance(light, LightEpisode)
        assert expected == _plain(light)
    if text == _dumps(record):
        assert light is not None


@SLOW
@given(records=st.lists(episodes(max_assessments=4, max_contacts=4), min_size=1, max_size=4), data=st.data())
def test_a_batch_gives_the_same_episodes_errors_and_alerts_on_either_path(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    """The engine's batch reader (light path first) and the plain one give, record by record,
    equal episodes or equal error records, and the engine gives equal alerts for them."""
    records = [data.draw(_with_the_newer_fields(r), label="record") for r in records]
    texts = [_damaged(data, r) for r in records]
    plain = list(iter_episodes(texts))
    light = list(iter_light_episodes(texts))
    assert [i for i, _ in plain] == [i for i, _ in light]
    for (_, slow), (_, fast) in zip(plain, light, strict=True):
        if isinstance(slow, RecordError):
            assert slow == fast
            continue
        assert slow.model_dump() == _plain(fast)
        expected = [a.model_dump() for a in ENGINE._evaluate(slow, AS_OF)]
        assert expected == [a.model_dump() for a in ENGINE._evaluate(fast, AS_OF)]
