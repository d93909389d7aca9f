"""The §12 predictions of a /sessions session over real HTTP against ``kato serve``, with a
client written the way 3.x's documentation shows it: create on /sessions, observe with
metadata, learn, set ``rank_sort_algo`` through the config route, read the predictions and
their ``future_potentials``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.servers import kato_serving


def _learn(kato: httpx.Client, session: str, *events: list[str]) -> str:
    for strings in events:
        answer = kato.post(
            f"/sessions/{session}/observe", json={"strings": strings, "metadata": {"shop": "n1"}}
        )
        assert answer.status_code == 200, answer.text
    learned: str = kato.post(f"/sessions/{session}/learn").json()["pattern_name"]
    return learned


def _predictions(kato: httpx.Client, session: str) -> dict[str, Any]:
    body: dict[str, Any] = kato.get(f"/sessions/{session}/predictions").json()
    return body


def test_3x_predictions_with_rank_sort_algo_and_future_potentials(tmp_path: Path) -> None:
    with kato_serving(tmp_path / "data") as base, httpx.Client(base_url=base, timeout=60) as kato:
        session = kato.post("/sessions", json={"node_id": "shop"}).json()["session_id"]
        _learn(kato, session, ["hat"], ["coat"], ["scarf"])
        _learn(kato, session, ["hat"], ["coat"], ["scarf"])
        _learn(kato, session, ["hat"], ["coat"], ["gloves"], ["boots"])
        for strings in (["hat"], ["coat"]):
            kato.post(f"/sessions/{session}/observe", json={"strings": strings})

        body = _predictions(kato, session)
        assert body["count"] == 2
        first = body["predictions"][0]
        # 3.x fields of the /sessions defaults (kato/service/v3_config.py).
        for field in ("predictive_information", "normalized_entropy", "bayesian_posterior"):
            assert field in first
        assert "hamiltonian" not in first
        assert isinstance(first["missing"][0], list)  # §12.6 lists of events
        futures = body["future_potentials"]
        assert [f["future"] for f in futures] == [[["scarf"]], [["gloves"], ["boots"]]]
        shares = [f["aggregate_potential"] for f in futures]
        assert shares == sorted(shares, reverse=True)

        update = {"config": {"rank_sort_algo": "evidence"}}
        assert kato.post(f"/sessions/{session}/config", json=update).status_code == 200
        ranked = _predictions(kato, session)["predictions"]
        # evidence 2/4 for the longer pattern against 2/3: ranking by evidence, descending.
        assert [p["evidence"] for p in ranked] == sorted(
            (p["evidence"] for p in ranked), reverse=True
        )
        assert ranked[0]["future"] == [["scarf"]]

        off = {"config": {"predictive_information": False}}
        assert kato.post(f"/sessions/{session}/config", json=off).status_code == 200
        assert _predictions(kato, session)["future_potentials"] is None


def test_v2_sessions_keep_the_baseline_objects(tmp_path: Path) -> None:
    with kato_serving(tmp_path / "data") as base, httpx.Client(base_url=base, timeout=60) as kato:
        session = kato.post("/v2/sessions", json={"node_id": "shop"}).json()["session_id"]
        for strings in (["hat"], ["coat"], ["scarf"]):
            kato.post(f"/v2/sessions/{session}/observe", json={"strings": strings})
        kato.post(f"/v2/sessions/{session}/learn")
        for strings in (["hat"], ["coat"]):
            kato.post(f"/v2/sessions/{session}/observe", json={"strings": strings})
        body = kato.get(f"/v2/sessions/{session}/predictions").json()
        assert set(body) == {"predictions", "session_id", "count"}
        (prediction,) = body["predictions"]
        assert "predictive_information" not in prediction and "hamiltonian" in prediction
        assert prediction["potential"] == 3.666666666667


def test_3x_fuzzy_tokens_and_affinity_weighting(tmp_path: Path) -> None:
    with kato_serving(tmp_path / "data") as base, httpx.Client(base_url=base, timeout=60) as kato:
        session = kato.post("/sessions", json={"node_id": "cafe"}).json()["session_id"]
        for strings, emotives in ((["coffee"], {"joy": 0.8}), (["cake"], {})):
            body = {"strings": strings, "emotives": emotives}
            assert kato.post(f"/sessions/{session}/observe", json=body).status_code == 200
        kato.post(f"/sessions/{session}/learn")
        affinity = kato.get("/symbols/coffee/affinity", params={"node_id": "cafe"}).json()
        assert affinity["affinity"] == {"joy": 0.8}

        config = {"config": {"fuzzy_token_threshold": 0.8, "affinity_emotive": "joy"}}
        assert kato.post(f"/sessions/{session}/config", json=config).status_code == 200
        for strings in (["cofee"], ["cake"]):
            kato.post(f"/sessions/{session}/observe", json={"strings": strings})
        (prediction,) = _predictions(kato, session)["predictions"]
        assert prediction["anomalies"] == [
            {"observed": "cofee", "expected": "coffee", "similarity": 10 / 11}
        ]
        assert prediction["matches"] == ["coffee", "cake"]
        assert prediction["weighted_similarity"] == 1.0
