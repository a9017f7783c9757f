"""HTTP calls to a provider: timeouts, retries with jitter (tenacity), Retry-After, the breaker.

A call is retried on network errors, 5xx and 429 (waiting the provider's Retry-After when it
gives one, else a jittered exponential backoff). After the last attempt a network error or 5xx
counts as one failure for the provider's circuit breaker; while the circuit is open, calls fail
at once with :data:`PROVIDER_UNAVAILABLE` without reaching the provider.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from grokimagine.engines.base import EngineError, RenderControl
from grokimagine.engines.relay.breaker import CircuitOpenError
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    PROVIDER_BAD_RESPONSE,
    PROVIDER_FAILED,
    PROVIDER_RATE_LIMITED,
    PROVIDER_RESULT_EXPIRED,
    PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
    ProviderJobGone,
    ProviderRateLimited,
    ProviderUnavailable,
    parse_error_body,
    raise_for_provider_status,
    relay_error,
)
from grokimagine.engines.relay.limits import ProviderSlot, provider_slot
from grokimagine.net.guard import FetchRefused
from grokimagine.net.guard_sync import guarded_sync_client
from grokimagine.net.policy import Allowlist

_CHUNK_BYTES = 1024 * 1024

M = TypeVar("M", bound=BaseModel)


class _WaitRetryAfterOrJitter:
    """Wait the provider's Retry-After (capped) after a 429, else a jittered backoff."""

    def __init__(self, backoff: float, cap: float):
        self._jitter = wait_random_exponential(multiplier=backoff, max=cap)
        self._cap = cap

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            return min(error.retry_after, self._cap)
        return self._jitter(state)


def cancellable_sleep(control: RenderControl, seconds: float) -> None:
    """Sleep ``seconds``, waking at once (and raising GenerationCanceled) on cancellation."""
    control.check_canceled()
    if seconds > 0 and control.cancel_event.wait(seconds):
        control.check_canceled()


class ProviderClient:
    """A synchronous, thread-safe HTTP client to one provider endpoint and key."""

    def __init__(self, config: ProviderConfig, *, transport: httpx.BaseTransport | None = None):
        self.config = config
        self.slot: ProviderSlot = provider_slot(config)
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._api = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.request_timeout, connect=config.connect_timeout),
            transport=transport,
        )
        # Result URLs may live on another host (a CDN), named by the provider's answer: that
        # client never carries the API key, and goes through the SSRF guard, redirects included.
        # The API base's host stays trusted as the operator configured it.
        trusted = (*config.fetch_allowlist, httpx.URL(config.base_url).host)
        self._plain = (
            httpx.Client(
                timeout=httpx.Timeout(config.download_timeout, connect=config.connect_timeout),
                follow_redirects=True,
                transport=transport,
            )
            if transport is not None
            else guarded_sync_client(
                Allowlist.parse(host for host in trusted if host),
                timeout=httpx.Timeout(config.download_timeout, connect=config.connect_timeout),
                max_connections=max(10, config.max_concurrency),
            )
        )

    def close(self) -> None:
        """Close the connection pools."""
        self._api.close()
        self._plain.close()

    def _retrying(self, control: RenderControl) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.config.retries),
            wait=_WaitRetryAfterOrJitter(self.config.retry_backoff, self.config.max_retry_after),
            retry=retry_if_exception_type((ProviderUnavailable, ProviderRateLimited)),
            sleep=lambda seconds: cancellable_sleep(control, seconds),
            reraise=True,
        )

    def _guarded(self, control: RenderControl, attempt: Any) -> Any:
        """Run ``attempt`` with retries inside the breaker; map exhaustion to EngineErrors."""
        breaker = self.slot.breaker
        try:
            breaker.before_call()
        except CircuitOpenError as exc:
            raise relay_error(PROVIDER_UNAVAILABLE, f"{self.config.name}: {exc}") from exc
        try:
            result = self._retrying(control)(attempt)
        except ProviderUnavailable as exc:
            breaker.record_failure()
            raise relay_error(PROVIDER_UNAVAILABLE, str(exc)) from exc
        except ProviderRateLimited as exc:
            breaker.record_success()  # it answered: rate limits are not an outage
            raise relay_error(PROVIDER_RATE_LIMITED, str(exc)) from exc
        except EngineError:
            breaker.record_success()  # it answered, with a refusal of this request
            raise
        except BaseException:
            breaker.release_trial()
            raise
        breaker.record_success()
        return result

    def call_json(
        self,
        method: str,
        path: str,
        control: RenderControl,
        *,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        """Send one API call and return its JSON object and headers, or raise an EngineError.

        ``data`` and ``files`` send a multipart form instead of a JSON body.
        """
        body, headers = self._call(method, path, control, json=json, data=data, files=files)
        if body is None:
            raise relay_error(PROVIDER_BAD_RESPONSE, f"{self.config.name}: not a JSON object")
        return body, headers

    def poll_json(
        self, path: str, control: RenderControl, *, failed_job_errors: bool = False
    ) -> dict[str, Any] | None:
        """GET a job's state: its JSON object, or ``None`` while the job is still running.

        A 202 whose body is empty or not a JSON object means "still running" (xAI answers so
        at times); a 404 means the provider no longer knows the job (:class:`ProviderJobGone`).
        With ``failed_job_errors``, an error status whose body is the job itself with ``status``
        ``failed`` is that job's answer (vLLM-Omni answers a failed job's GET with a 5xx).
        """
        body, _ = self._call(
            "GET", path, control, pending_if_empty=True, failed_job_errors=failed_job_errors
        )
        return body

    def models(self) -> list[str]:
        """The model ids of ``GET {base}/models``, once, without retries or the breaker (probes).

        Raises :class:`ProviderUnavailable` when the server does not answer a model list.
        """
        try:
            response = self._api.get("/models", timeout=self.config.connect_timeout)
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{self.config.name} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"{self.config.name} /models answered {response.status_code}")
        try:
            listed = response.json().get("data")
        except (ValueError, AttributeError):
            listed = None
        if not isinstance(listed, list):
            raise ProviderUnavailable(f"{self.config.name} /models is not a model list")
        return [str(item.get("id")) for item in listed if isinstance(item, dict)]

    def delete_quietly(self, path: str) -> bool:
        """DELETE once, ignoring every failure (freeing a node's disk, aborting a job)."""
        try:
            return self._api.delete(path, timeout=self.config.connect_timeout).is_success
        except httpx.HTTPError:
            return False

    def post_for_file(
        self,
        path: str,
        output: Path,
        control: RenderControl,
        *,
        data: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[int, httpx.Headers]:
        """POST a form whose answer is the video itself (a synchronous route), into ``output``.

        One attempt only: a retry would render the video again. A network error is
        :class:`ProviderUnavailable` (the caller decides whether the node is lost).
        """
        partial = output.with_name(output.name + ".part")
        timeout = httpx.Timeout(self.config.job_timeout, connect=self.config.connect_timeout)
        control.check_canceled()
        try:
            with self._api.stream(
                "POST", path, data=data, files=files, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    if response.status_code == 504:
                        raise relay_error(
                            PROVIDER_TIMEOUT, f"{self.config.name} render timed out (504)"
                        )
                    if response.status_code == 500:
                        detail = parse_error_body(response)
                        raise relay_error(
                            PROVIDER_FAILED, f"{self.config.name} render failed: {detail.message}"
                        )
                    raise_for_provider_status(self.config.name, response)
                size = self._write_body(response, partial, control)
                headers = response.headers
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ProviderUnavailable(f"{self.config.name} unreachable: {exc!r}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, output)
        return size, headers

    def _call(
        self,
        method: str,
        path: str,
        control: RenderControl,
        *,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        pending_if_empty: bool = False,
        failed_job_errors: bool = False,
    ) -> tuple[dict[str, Any] | None, httpx.Headers]:
        def attempt() -> tuple[dict[str, Any] | None, httpx.Headers]:
            control.check_canceled()
            try:
                response = self._api.request(method, path, json=json, data=data, files=files)
            except httpx.TransportError as exc:
                raise ProviderUnavailable(f"{self.config.name} unreachable: {exc!r}") from exc
            if pending_if_empty and response.status_code == 404:
                raise ProviderJobGone(f"{self.config.name} no longer knows the job (404)")
            if failed_job_errors and response.status_code >= 400:
                failed = _failed_job_body(response)
                if failed is not None:
                    return failed, response.headers
            raise_for_provider_status(self.config.name, response)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                if pending_if_empty and response.status_code == 202:
                    return None, response.headers
                raise relay_error(PROVIDER_BAD_RESPONSE, f"{self.config.name}: not a JSON object")
            return body, response.headers

        return self._guarded(control, attempt)

    def download(
        self, url: str, output: Path, control: RenderControl, *, authenticated: bool
    ) -> int:
        """Stream ``url`` into ``output`` (via a temporary file) and return its size in bytes.

        ``authenticated`` sends the API key, for a provider's own content endpoint; other URLs
        are fetched without it. A 403, 404 or 410 means the result is gone.
        """
        partial = output.with_name(output.name + ".part")

        def attempt() -> int:
            control.check_canceled()
            try:
                with self._open_result(url, authenticated) as response:
                    if response.status_code in (403, 404, 410):
                        raise relay_error(
                            PROVIDER_RESULT_EXPIRED,
                            f"{self.config.name} result no longer available "
                            f"({response.status_code})",
                        )
                    if response.status_code >= 400:
                        response.read()
                    raise_for_provider_status(self.config.name, response)
                    return self._write_body(response, partial, control)
            except FetchRefused as exc:
                raise relay_error(
                    PROVIDER_BAD_RESPONSE,
                    f"{self.config.name} result URL refused by the SSRF guard: {exc.message}",
                ) from exc
            except httpx.TooManyRedirects as exc:
                raise relay_error(
                    PROVIDER_BAD_RESPONSE, f"{self.config.name} result URL redirects too often"
                ) from exc
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise relay_error(
                    PROVIDER_BAD_RESPONSE, f"{self.config.name} result URL is not usable: {exc}"
                ) from exc
            except httpx.TransportError as exc:
                raise ProviderUnavailable(f"{self.config.name} download failed: {exc!r}") from exc

        try:
            try:
                size = self._retrying(control)(attempt)
            except ProviderUnavailable as exc:
                raise relay_error(PROVIDER_UNAVAILABLE, str(exc)) from exc
            except ProviderRateLimited as exc:
                raise relay_error(PROVIDER_RATE_LIMITED, str(exc)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, output)
        return size

    @contextmanager
    def _open_result(self, url: str, authenticated: bool) -> Iterator[httpx.Response]:
        """Open the result's response. An authenticated fetch stays on the API base: a redirect
        away from it is followed by the guarded client, without the key."""
        timeout = self.config.download_timeout
        if not authenticated:
            with self._plain.stream("GET", url, timeout=timeout) as response:
                yield response
            return
        with self._api.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if not response.is_redirect:
                yield response
                return
            target = str(response.url.join(response.headers["location"]))
        with self._plain.stream("GET", target, timeout=timeout) as response:
            yield response

    def _write_body(self, response: httpx.Response, partial: Path, control: RenderControl) -> int:
        size = 0
        with partial.open("wb") as file:
            for chunk in response.iter_bytes(_CHUNK_BYTES):
                size += len(chunk)
                if size > self.config.max_download_bytes:
                    raise relay_error(
                        PROVIDER_BAD_RESPONSE,
                        f"{self.config.name} video over {self.config.max_download_bytes} bytes",
                    )
                file.write(chunk)
                control.check_canceled()
        return size


def _failed_job_body(response: httpx.Response) -> dict[str, Any] | None:
    """The job object an error answer carries when it says the job failed, else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("status") == "failed" and "id" in body:
        return body
    return None


def parse_answer(model: type[M], body: dict[str, Any], provider: str) -> M:
    """Validate a provider's JSON answer with a pydantic model, or raise PROVIDER_BAD_RESPONSE."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise relay_error(
            PROVIDER_BAD_RESPONSE, f"{provider} answered an unexpected shape: {exc.errors()[:3]}"
        ) from exc
