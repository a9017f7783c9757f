"""A console 4xx or 5xx keeps the keep-alive connection usable (issue 21): before, an
unexpected error made the server close it, and a NUL in a form or path was such an error."""

from __future__ import annotations

import http.client

import pytest

from grokimagine.console.app import create_app as console_app
from grokimagine.settings import Settings
from tests.helpers.live_server import live_server


def test_errors_of_every_kind_leave_the_connection_open(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in a page")

    # The sign-in page's first call fails: the console's own 500 page.
    monkeypatch.setattr("grokimagine.console.customer.auth_pages.session_user", broken)
    with live_server(settings, worker=False, build=console_app) as running:
        host_port = running.url.removeprefix("http://")
        connection = http.client.HTTPConnection(host_port, timeout=30)
        try:
            connection.request("GET", "/healthz")
            first = connection.getresponse()
            assert first.status == 200
            first.read()
            opened = connection.sock
            for method, path, status, kind in [
                ("GET", "/console/tasks/task_%00", 400, "text/html"),
                ("GET", "/console/sign-in", 500, "text/html"),
                ("GET", "/console/no-such-page", 404, "text/html"),
                ("GET", "/v1/tasks/task_%00", 401, "application/json"),
                ("GET", "/admin/usage?since=0001-01-01", 303, None),  # sign in first
                ("GET", "/healthz", 200, "application/json"),
            ]:
                connection.request(method, path)
                response = connection.getresponse()
                body = response.read()
                assert response.status == status, (path, body[-400:])
                assert response.getheader("connection") != "close", path
                if kind is not None:
                    assert response.getheader("content-type").startswith(kind), path
                if status == 500:
                    assert b"a bug in a page" not in body and b"Traceback" not in body
                # The very same socket: nothing was closed and reopened in between.
                assert connection.sock is opened, path
        finally:
            connection.close()
