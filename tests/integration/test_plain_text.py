"""Free text is printable (issue 9, part 2): names, tags, labels and reasons with a control or an
invisible formatting character are a 422 naming the field, and nothing is written; every CSV the
CLI prints escapes a cell that a spreadsheet would run as a formula."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.entrypoints.cli.common import Listing, echo_rows, spreadsheet_safe

HIDDEN = ["\x00", "\x1b[31m", "\n", "\u202e", "\u200b", "\ufeff"]


@pytest.mark.parametrize("hidden", HIDDEN, ids=repr)
def test_a_symbols_name_or_tag_with_a_hidden_character_is_refused(
    client: TestClient, keys: Keys, hidden: str
) -> None:
    for field, body in (
        ("name", {"symbol": "AAA", "name": f"Apple{hidden}Inc"}),
        ("tags", {"symbol": "AAA", "tags": ["ok", f"x{hidden}"]}),
    ):
        response = client.post("/v1/symbols", json=body, headers=keys.header("trader"))
        assert response.status_code == 422, response.text
        problem = response.json()["errors"][0]
        assert problem["field"] == field and "control or formatting character" in problem["reason"]
    assert client.get("/v1/symbols", headers=keys.header("viewer")).json()["items"] == []


def test_labels_scanner_names_and_reasons_are_printable(client: TestClient, keys: Keys) -> None:
    label = client.post(
        "/v1/keys", json={"role": "viewer", "label": "ops\x1b]0;pwned\x07"}, headers=keys.header("admin")
    )
    assert label.status_code == 422 and label.json()["errors"][0]["field"] == "label"
    scanner = {"name": "cheap\u202etxt.exe", "rules": ["close < 10"]}
    named = client.post("/v1/scanners", json=scanner, headers=keys.header("trader"))
    assert named.status_code == 422 and named.json()["errors"][0]["field"] == "name"
    assert client.get("/v1/scanners", headers=keys.header("viewer")).json() == []
    fine = client.post(
        "/v1/keys", json={"role": "viewer", "label": "Ops: café 東京"}, headers=keys.header("admin")
    )
    assert fine.status_code == 201, fine.text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1.5", "-1.5"),
        ("+7", "+7"),
        ("AAPL", "AAPL"),
        ("", ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_escaped_and_numbers_stay_numbers(text: str, shown: str) -> None:
    assert spreadsheet_safe(text) == shown


def test_the_clis_csv_escapes_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    echo_rows([{"symbol": "AAA", "name": "=1+1", "qty": -3}], ["symbol", "name", "qty"], Listing.CSV)
    assert capsys.readouterr().out.splitlines() == ["symbol,name,qty", "AAA,'=1+1,-3"]
