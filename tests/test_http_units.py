"""Pure pieces of the HTTP layer: Retry-After parsing, the retry decision, URL safety."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskade_frames
from taskade_frames._http import (
    RateLimiter,
    RetryPolicy,
    check_base_url,
    parse_retry_after,
    retry_delay,
)
from taskade_frames.client import DEFAULT_RATE_LIMIT
from taskade_frames.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    OutOfCreditsError,
    PermissionDeniedError,
    RateLimitError,
    ReadTimeoutError,
    ServerError,
    TransportError,
    error_for_status,
)
from taskade_frames.operations import OPERATIONS, operation

POLICY = RetryPolicy()


def delay(error, *, write=False, attempt=1, policy=POLICY):
    return retry_delay(error, write=write, attempt=attempt, policy=policy, jitter=lambda: 1.0)


def api(cls, status, **kw):
    return cls("boom", status=status, operation="listTasks", **kw)


class TestRetryAfter:
    def test_seconds(self):
        assert parse_retry_after("1") == 1.0
        assert parse_retry_after(" 2.5 ") == 2.5

    def test_zero_is_a_valid_wait(self):
        assert parse_retry_after("0") == 0.0

    def test_http_date_in_the_future(self):
        header = email.utils.formatdate(1_000_030, usegmt=True)
        assert parse_retry_after(header, now=1_000_000) == pytest.approx(30.0)

    def test_http_date_in_the_past_is_now(self):
        header = email.utils.formatdate(1_000_000, usegmt=True)
        assert parse_retry_after(header, now=2_000_000) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan"])
    def test_garbage_is_unknown(self, value):
        assert parse_retry_after(value) is None

    @given(st.text(max_size=40))
    def test_never_raises(self, value):
        result = parse_retry_after(value)
        assert result is None or result >= 0


class TestRetryDecision:
    @pytest.mark.parametrize(
        "cls,status",
        [
            (BadRequestError, 400),
            (AuthenticationError, 401),
            (OutOfCreditsError, 402),
            (PermissionDeniedError, 403),
            (NotFoundError, 404),
        ],
    )
    @pytest.mark.parametrize("write", [False, True])
    def test_client_errors_never_retry(self, cls, status, write):
        assert delay(api(cls, status), write=write) is None

    def test_server_errors_retry_reads_three_times(self):
        err = api(ServerError, 503)
        assert [delay(err, attempt=a) is not None for a in (1, 2, 3, 4)] == [True] * 3 + [False]

    def test_backoff_grows(self):
        err = api(ServerError, 503)
        waits = [delay(err, attempt=a) for a in (1, 2, 3)]
        assert waits == sorted(waits) and waits[0] < waits[-1]

    def test_jitter_keeps_at_least_half(self):
        err = api(ServerError, 503)
        low = retry_delay(err, write=False, attempt=1, policy=POLICY, jitter=lambda: 0.0)
        assert low == POLICY.backoff / 2

    def test_writes_never_retry_after_a_5xx_or_read_timeout(self):
        assert delay(api(ServerError, 500), write=True) is None
        timeout = ReadTimeoutError("slow", operation="promptAgent", sent=True)
        assert delay(timeout, write=True) is None
        assert delay(timeout, write=False) is not None

    def test_writes_retry_when_nothing_was_sent(self):
        refused = TransportError("refused", operation="promptAgent", sent=False)
        assert delay(refused, write=True) is not None

    @pytest.mark.parametrize("write", [False, True])
    def test_429_honours_retry_after(self, write):
        err = api(RateLimitError, 429, retry_after=7.0)
        assert delay(err, write=write) == 7.0
        assert delay(api(RateLimitError, 429, retry_after=0.0), write=write) == 0.0

    def test_429_with_absurd_wait_is_raised(self):
        err = api(RateLimitError, 429, retry_after=3600.0)
        assert delay(err) is None

    def test_429_retries_are_bounded(self):
        err = api(RateLimitError, 429, retry_after=1.0)
        assert delay(err, attempt=POLICY.max_rate_limit_retries + 1) is None

    def test_a_garbled_2xx_retries_reads_only(self):
        err = InvalidResponseError("cut short", operation="listTasks", status=200)
        assert delay(err) is not None
        assert delay(err, write=True) is None


class TestErrors:
    def test_status_map(self):
        assert error_for_status(402) is OutOfCreditsError
        assert error_for_status(418) is BadRequestError
        assert error_for_status(503) is ServerError

    def test_api_error_carries_context(self):
        err = NotFoundError(
            "Project not found", status=404, code="not_found", operation="getProject"
        )
        assert (err.status, err.code, err.operation) == (404, "not_found", "getProject")
        assert "getProject" in str(err) and "404" in str(err)


class TestBaseUrl:
    @pytest.mark.parametrize("url", ["http://example.com/api/v2", "http://10.0.0.1/api/v2"])
    def test_plain_http_off_machine_is_refused(self, url):
        with pytest.raises(ConfigurationError, match="plain http"):
            check_base_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8765/api/v2",
            "http://localhost:1/api/v2",
            "http://[::1]:9/x",
            "https://www.taskade.com/api/v2/",
        ],
    )
    def test_loopback_and_https_are_fine(self, url):
        assert check_base_url(url) == url.rstrip("/")

    @pytest.mark.parametrize("url", ["ftp://x/y", "www.taskade.com", ""])
    def test_nonsense_is_refused(self, url):
        with pytest.raises(ConfigurationError):
            check_base_url(url)


class TestClientConfig:
    def test_missing_token_explains_how(self, monkeypatch):
        for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(ConfigurationError, match="TASKADE_API_TOKEN") as info:
            taskade_frames.TaskadeClient()
        assert "emulator" in str(info.value)

    def test_token_from_environment_in_order(self, monkeypatch):
        monkeypatch.setenv("TASKADE_TOKEN", "second-fake")
        monkeypatch.setenv("TASKADE_API_TOKEN", "first-fake")
        c = taskade_frames.TaskadeClient()
        assert c._transport._session.headers["Authorization"] == "Bearer first-fake"
        c.close()

    def test_base_url_from_environment(self, monkeypatch):
        monkeypatch.setenv("TASKADE_API_URL", "http://127.0.0.1:9/api/v2")
        c = taskade_frames.TaskadeClient("fake-token-for-tests-0000")
        assert c.base_url == "http://127.0.0.1:9/api/v2"
        c.close()

    def test_repr_hides_token(self):
        c = taskade_frames.TaskadeClient("fake-token-for-tests-0000")
        assert "fake-token" not in repr(c) and "fake-token" not in str(c)
        assert "fake-token" not in repr(c._transport)
        c.close()

    @pytest.mark.parametrize(
        ("base_url", "rate_limit", "expected"),
        [
            ("https://www.taskade.com/api/v2", "auto", DEFAULT_RATE_LIMIT),
            ("http://127.0.0.1:9/api/v2", "auto", None),  # the emulator: no limit unless set
            ("http://localhost:9/api/v2", "auto", None),
            ("https://www.taskade.com/api/v2", None, None),  # None means no limit, explicitly
            ("http://127.0.0.1:9/api/v2", 5, 5.0),
        ],
    )
    def test_rate_limit_default_is_the_remote_apis_limit(self, base_url, rate_limit, expected):
        c = taskade_frames.TaskadeClient(
            "fake-token-for-tests-0000", base_url=base_url, rate_limit=rate_limit, trust_env=False
        )
        assert (c.limiter.rate if c.limiter else None) == expected
        c.close()


class TestOperationsTable:
    def test_paging_styles(self):
        styles = {name: op.paging for name, op in OPERATIONS.items() if op.paging != "none"}
        assert styles == {
            "listTasks": "cursor",
            "listBlocks": "cursor",
            "listProjectMembers": "page",
            "listConversations": "page",
            "listMedia": "page",
            "listTemplates": "page",
            "listMyProjects": "page",
            "listSpaces": "single",
            "listFolders": "single",
            "listProjects": "single",
            "listAgents": "single",
            "listFields": "single",
        }

    def test_unknown_operations_are_writes_unless_reads(self):
        assert operation("getSomethingNew").write is False
        assert operation("doSomethingNew").write is True
        with pytest.raises(ValueError):
            operation("../etc/passwd")


def test_rate_limiter_paces_requests():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(10, burst=1, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert sum(slept) == pytest.approx(0.4)


def test_public_all_is_sorted_and_resolves():
    assert taskade_frames.__all__ == sorted(taskade_frames.__all__)
    for name in ("TaskadeClient", "TaskadeError", "NotFoundError"):
        assert hasattr(taskade_frames, name)


def test_all_names_every_lazy_export():
    from taskade_frames import _LAZY

    assert set(_LAZY) <= set(taskade_frames.__all__)
