"""The channels that carry alerts out: HTTP for URL targets and Slack/Discord incoming webhooks,
SNS for e-mail.

HTTP goes through urllib3 (already in the Lambda layer, since botocore needs it): one POST per
attempt, no retries of its own (the delivery schedule in alerts/domain.py retries, hours apart),
no redirects followed (a receiver that moved says so, and is told where it pointed), and at most
a few KB of the answer read. A receiver's failure never raises: it becomes an `Attempt` saying
whether another try may work.

Where private targets are not allowed (the AWS runtime, by default), a URL must not reach the
platform's own network: loopback, private ranges, link-local (the metadata service at
169.254.169.254). A name is resolved here, every address it has is checked, and the connection
goes to a checked address while the request keeps the original Host header and, for https, the
original name for SNI and the certificate check; so a name that answers a public address to the
check and a private one a moment later (DNS rebinding) still cannot reach inside. The same path
runs where private targets are allowed, only without the check, so tests exercise it on loopback.

E-mail goes through one SNS topic per owner (the principal that owns the alert), made at run time
on first use and named from the platform topic the stack deploys (`<its name>-<hash of the
owner>`). SNS asks an address to confirm once per (topic, address), so an address confirms for
each owner separately: one that confirmed for user A gets nothing of user B's until it confirms
B's subscription too. On an owner's topic, the alerts sending to one address share its
subscription: its filter policy lists their alert ids, and each published message carries its
alert's id as a message attribute, so an address gets only the alerts it subscribed to. Nothing
reaches an address before it confirms from the message AWS sends it.

urllib3 and boto3 are imported on first use: a Lambda that only checks targets (the API) pays for
neither, and one that sends to URLs never loads boto3.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import re
import socket
import ssl
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from trading_system.alerts.domain import (
    SEND_TIMEOUT_S,
    Attempt,
    DiscordTarget,
    EmailTarget,
    Outgoing,
    SlackTarget,
    UrlTarget,
    private_address,
)
from trading_system.config import ENV_PREFIX, Settings
from trading_system.kernel.errors import DomainError, Problem, ValidationFailed

if TYPE_CHECKING:
    import urllib3

    from trading_system.alerts.domain import Target

__all__ = [
    "DISCORD_MAX_CHARS",
    "MAX_ANSWER_BYTES",
    "OWNER_TOPIC_TAG",
    "TOPIC_SETTING",
    "USER_AGENT",
    "ChannelUnavailable",
    "Channels",
    "HttpChannel",
    "SnsEmailChannel",
    "TargetRefused",
    "checked_addresses",
    "owner_topic_arn",
    "sns_subject",
    "system_resolver",
]

USER_AGENT = "trading-system-alerts/1.0"
MAX_ANSWER_BYTES = 4096  # of a receiver's answer: enough for its error message, never a huge body
DISCORD_MAX_CHARS = 2000  # Discord refuses a message whose content is longer (in UTF-16 units)
SNS_SUBJECT_MAX = 99  # SNS: ASCII, no line breaks or control characters, under 100 characters
TOPIC_SETTING = f"{ENV_PREFIX}ALERTS_TOPIC_ARN"
_MAX_ADDRESSES = 4  # addresses of one name tried in turn when connecting fails outright
_RETRYABLE_STATUSES = frozenset({408, 425, 429})  # and every 5xx
_RESOLVER_THREADS = 4  # lookups at once; one stalled past its timeout keeps its thread until it ends
_DEFAULT_PORTS = {"http": 80, "https": 443}

_E = TypeVar("_E", bound=BaseException)
Resolver = Callable[[str, int], Sequence[str]]
"""A host name and port to the IP addresses to try, in order (socket.getaddrinfo's)."""


class TargetRefused(Exception):
    """A target this deployment will not send to; the message says why, for the delivery list."""


class ChannelUnavailable(DomainError):
    """A channel's service could not do what was asked (SNS did not answer, or refused)."""

    def __init__(self, detail: str):
        super().__init__(detail, [], 503, "Service unavailable", "service-unavailable")


# --- HTTP: URL targets and chat webhooks -----------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver answers for a host, in its order of preference, once each."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _public(address: str) -> bool:
    """Whether a resolved address is one an alert may reach from a shared deployment."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) aside
    except ValueError:
        return False  # not an address at all: refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever the IPv6 tables say
    return not private_address(str(ip)) and not ip.is_multicast


def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolve: Resolver = system_resolver
) -> list[str]:
    """The addresses to connect to for `host`: all of them checked when private targets are not
    allowed, refused (TargetRefused) if any is not public, since the resolver may answer either
    next time. Raises socket.gaierror (an OSError) when the name does not resolve."""
    addresses = list(resolve(host, port))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    if not allow_private:
        private = [address for address in addresses if not _public(address)]
        if private:
            raise TargetRefused(
                f"{host} resolves to a loopback, private or link-local address ({private[0]}): "
                "alerts may not reach those here"
            )
    return addresses


class _Request:
    """One POST, taken apart from its URL once."""

    def __init__(self, url: str, body: bytes, headers: dict[str, str]):
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise TargetRefused("the URL is not an http:// or https:// URL with a host name")
        try:
            port = parts.port
        except ValueError:
            raise TargetRefused("the URL's port is not a number from 1 to 65535") from None
        try:
            # Host names travel as IDNA (xn--...) in DNS, SNI and the Host header alike.
            self.host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise TargetRefused(f"the URL's host name {parts.hostname!r} is not a valid name") from None
        self.scheme = parts.scheme
        self.port = port or _DEFAULT_PORTS[parts.scheme]
        netloc = parts.netloc.rpartition("@")[2]  # the domain refuses user info; never send it anyway
        # The Host header as the URL names it (a connection to an address would otherwise send the address).
        self.host_header = netloc if netloc.isascii() else self.host + (f":{port}" if port else "")
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.body = body
        self.headers = {**headers, "Host": self.host_header}


class HttpChannel:
    """POSTs to URL targets (the signed JSON document) and Slack or Discord webhooks (a line of
    text), one request per attempt."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_s: float = SEND_TIMEOUT_S,
        resolve: Resolver = system_resolver,
        ca_certs: str | None = None,
        user_agent: str = USER_AGENT,
    ):
        """`timeout_s`: the connect and the read timeout of each attempt. `resolve`: host names to
        addresses (the system resolver; a stand-in in tests). `ca_certs`: a CA bundle to trust
        instead of the system's (a private CA, or a test's)."""
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self._resolve = resolve
        self._ca_certs = ca_certs
        self._user_agent = user_agent
        self._pools: urllib3.PoolManager | None = None
        self._resolvers: ThreadPoolExecutor | None = None
        self._pools_lock = threading.Lock()

    def refusal(self, target: UrlTarget | SlackTarget | DiscordTarget) -> str | None:
        """Why the target's URL cannot be used here, as far as its text tells: a private address
        or `localhost` where those are not allowed. (A name is checked again when sending, by
        what it resolves to.)"""
        try:
            request = _Request(target.url, b"", {})
        except TargetRefused as refused:
            return str(refused)
        if not self.allow_private and private_address(request.host):
            return (
                f"{request.host} is a loopback, private or link-local address: "
                "alerts may not reach those here"
            )
        return None

    def send(self, outgoing: Outgoing) -> Attempt:
        target = outgoing.target
        if isinstance(target, EmailTarget):
            raise TypeError("HttpChannel does not send e-mail")
        body, headers = self._payload(outgoing, target)
        try:
            request = _Request(target.url, body, headers)
            if not self.allow_private and private_address(request.host):
                raise TargetRefused(f"{request.host} is a loopback, private or link-local address")
        except TargetRefused as refused:
            return Attempt(ok=False, error=f"refused: {refused}", retryable=False)
        try:
            addresses = checked_addresses(
                request.host, request.port, allow_private=self.allow_private, resolve=self._resolve_in_time
            )
        except TargetRefused as refused:
            return Attempt(ok=False, error=f"refused: {refused}", retryable=False)
        except TimeoutError:
            error = f"could not resolve {request.host} within {self.timeout_s:g} s"
            return Attempt(ok=False, error=error, retryable=True)
        except OSError as error:
            # A resolver that fails may be briefly down as well as the name gone: try again later.
            return Attempt(
                ok=False, error=f"could not resolve {request.host}: {_os_reason(error)}", retryable=True
            )
        return self._post(request, addresses[:_MAX_ADDRESSES])

    def close(self) -> None:
        with self._pools_lock:
            if self._pools is not None:
                self._pools.clear()
            if self._resolvers is not None:
                self._resolvers.shutdown(wait=False, cancel_futures=True)
                self._resolvers = None

    def _resolve_in_time(self, host: str, port: int) -> Sequence[str]:
        """The resolver's answer, or TimeoutError after the attempt's timeout. getaddrinfo has no
        timeout of its own: a stalled DNS server would hold the delivery, and every alert behind it
        in the same function, for as long as the system resolver keeps retrying. The lookup left
        behind ends on its own; the pool bounds how many can pile up."""
        with self._pools_lock:
            if self._resolvers is None:
                self._resolvers = ThreadPoolExecutor(_RESOLVER_THREADS, thread_name_prefix="alert-dns")
            resolvers = self._resolvers
        return resolvers.submit(self._resolve, host, port).result(timeout=self.timeout_s)

    def _payload(
        self, outgoing: Outgoing, target: UrlTarget | SlackTarget | DiscordTarget
    ) -> tuple[bytes, dict[str, str]]:
        headers = {"Content-Type": "application/json", "User-Agent": self._user_agent}
        if isinstance(target, UrlTarget):
            return outgoing.body, {**headers, **outgoing.headers}
        if isinstance(target, SlackTarget):
            # Slack reads &, < and > as markup (<!channel> notifies everyone): escaped, as Slack asks.
            text = outgoing.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            document: dict[str, Any] = {"text": text}
        else:
            # No @everyone, @here or role pings from a name a user typed into an alert.
            document = {
                "content": _cut_utf16(outgoing.text, DISCORD_MAX_CHARS),
                "allowed_mentions": {"parse": []},
            }
        return json.dumps(document, ensure_ascii=False).encode(), headers

    def _pool_manager(self) -> urllib3.PoolManager:
        with self._pools_lock:
            if self._pools is None:
                import urllib3

                # retries=False: urllib3 neither retries nor follows redirects, and raises its
                # errors as they are, for _failure to name.
                self._pools = urllib3.PoolManager(
                    num_pools=16,
                    maxsize=4,
                    retries=False,
                    timeout=urllib3.Timeout(connect=self.timeout_s, read=self.timeout_s),
                )
            return self._pools

    def _post(self, request: _Request, addresses: Sequence[str]) -> Attempt:
        import urllib3

        pools = self._pool_manager()
        pool_kwargs: dict[str, Any] = {}
        if request.scheme == "https":
            # Connected to an address, TLS still names (SNI) and checks the certificate against the
            # host the URL gave: ssl checks against server_hostname. (assert_hostname would move the
            # check into urllib3, which logs the whole certificate at WARNING on a mismatch.)
            pool_kwargs = {"server_hostname": request.host}
            if self._ca_certs is not None:
                pool_kwargs["ca_certs"] = self._ca_certs
        failure = Attempt(ok=False, error="no address to connect to", retryable=True)
        for address in addresses:
            pool = pools.connection_from_host(address, request.port, request.scheme, pool_kwargs=pool_kwargs)
            try:
                response = pool.urlopen(
                    "POST",
                    request.path,
                    body=request.body,
                    headers=request.headers,
                    redirect=False,
                    retries=False,
                    assert_same_host=False,
                    preload_content=False,
                    release_conn=False,
                )
            except urllib3.exceptions.NewConnectionError as error:
                # Refused or unreachable at once: the name's next address may answer.
                failure = _failure(error, self.timeout_s)
                continue
            except (urllib3.exceptions.HTTPError, OSError) as error:
                return _failure(error, self.timeout_s)  # a timeout: another address would double the wait
            return _answered(response, self.timeout_s)
        return failure


def _answered(response: urllib3.BaseHTTPResponse, timeout_s: float) -> Attempt:
    import urllib3

    status = response.status
    answer = b""
    try:
        # A small answer (Slack's "ok") is read whole, so its connection can serve the next send.
        answer = response.read(MAX_ANSWER_BYTES, decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError):
        pass  # the status is what counts; an answer cut short changes nothing
    finally:
        if getattr(response, "length_remaining", None) != 0:
            response.close()  # more may follow that nobody will read: drop the connection, not reuse it
        response.release_conn()
    if 200 <= status < 300:
        return Attempt(ok=True, status=status)
    if 300 <= status < 400:
        where = response.headers.get("Location")
        pointed = f" (it pointed to {_shortened(where, 200)})" if where else ""
        return Attempt(
            ok=False,
            status=status,
            error=f"HTTP {status}: alerts do not follow redirects{pointed}",
            retryable=False,
        )
    said = _said(answer)
    return Attempt(
        ok=False,
        status=status,
        error=f"HTTP {status}: {said}" if said else f"HTTP {status}",
        retryable=status in _RETRYABLE_STATUSES or status >= 500,
    )


def _said(answer: bytes) -> str:
    """What a receiver's error answer says, in one short line (Slack answers `no_service`,
    Discord `{"message": "Unknown Webhook", ...}`)."""
    text = answer.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict):
            for key in ("message", "error", "detail", "title"):
                if isinstance(document.get(key), str):
                    text = document[key]
                    break
    line = text.splitlines()[0] if text else ""
    return _shortened("".join(ch for ch in line if ch.isprintable()).strip(), 120)


def _failure(error: BaseException, timeout_s: float) -> Attempt:
    """A request that got no answer, in words, and whether to try again."""
    import urllib3

    seconds = f"{timeout_s:g} s"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return Attempt(ok=False, error=_connect_reason(error), retryable=True)
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return Attempt(ok=False, error=f"timed out connecting after {seconds}", retryable=True)
    if isinstance(error, (urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout)):
        return Attempt(ok=False, error=f"timed out after {seconds}", retryable=True)
    if isinstance(error, urllib3.exceptions.SSLError):
        verification = _cause(error, ssl.SSLCertVerificationError)
        if verification is not None:
            # The receiver's certificate is wrong for its name (or not trusted): a person must fix it.
            why = verification.verify_message or "certificate verify failed"
            return Attempt(ok=False, error=f"TLS certificate not accepted: {why}", retryable=False)
        return Attempt(ok=False, error="TLS handshake failed", retryable=True)
    if _cause(error, ConnectionResetError) is not None:
        return Attempt(ok=False, error="connection reset", retryable=True)
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return Attempt(ok=False, error="connection closed without an answer", retryable=True)
    return Attempt(ok=False, error=f"request failed: {type(error).__name__}", retryable=True)


def _connect_reason(error: BaseException) -> str:
    if _cause(error, ConnectionRefusedError) is not None:
        return "connection refused"
    cause = _cause(error, OSError)
    if cause is not None and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable" if cause.errno == errno.ENETUNREACH else "host unreachable"
    if isinstance(cause, TimeoutError):
        return "timed out connecting"
    return f"could not connect: {_os_reason(cause) if cause is not None else type(error).__name__}"


def _cause(error: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of `kind` in the chain that led to `error` (itself included)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _os_reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cut_utf16(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 code units (how Discord counts), ending with … when cut."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    kept: list[str] = []
    units = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > limit - 1:
            break
        kept.append(ch)
        units += width
    return "".join(kept) + "…"


# --- SNS: e-mail -----------------------------------------------------------------------------


def sns_subject(subject: str) -> str:
    """A subject SNS accepts for e-mail: printable ASCII on one line, under 100 characters."""
    # Accents kept as their base letters (é -> e); anything else non-ASCII dropped.
    ascii_text = unicodedata.normalize("NFKD", subject).encode("ascii", "ignore").decode("ascii")
    words = "".join(ch if ch.isprintable() else " " for ch in ascii_text).split()
    text = " ".join(words) or "Trading alert"
    return _shortened(text, SNS_SUBJECT_MAX)


# ClientError codes that another attempt may get past.
_SNS_RETRYABLE = frozenset(
    {
        "Throttled",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottling",
    }
)
_REF_SEPARATOR = "#"  # between the subscription's ARN and the alert's id, in a channel ref
TOPIC_NAME_MAX = 256  # SNS: up to 256 of A-Z, a-z, 0-9, _ and -
OWNER_DIGEST_CHARS = 16  # hex of sha256(owner): 64 bits, no collision among one platform's users
OWNER_TOPIC_TAG = "trading:alerts-owner-topic-of"  # its value: the platform topic's name
AWS_MANAGED_SNS_KEY = "alias/aws/sns"  # the platform topic's key too (infra/constructs/alerts.py)
DISPLAY_NAME_MAX = 100  # SNS: the e-mails' sender name
_DISPLAY_UNSAFE = re.compile(r"[^A-Za-z0-9 _-]+")  # what SNS is documented to take in a display name
_NOT_FOUND = frozenset({"NotFound", "NotFoundException", "ResourceNotFoundException"})


def owner_topic_arn(platform_topic_arn: str, owner: str) -> str:
    """The ARN of `owner`'s e-mail topic: the platform topic's region, account and name, the name
    followed by `-` and a short stable hash of the owner (an owner id may hold characters a topic
    name may not, and a hash is as stable across processes as the id)."""
    head, _, name = platform_topic_arn.rpartition(":")
    digest = hashlib.sha256(owner.encode()).hexdigest()[:OWNER_DIGEST_CHARS]
    return f"{head}:{name}-{digest}"


def tls_only_policy(topic_arn: str) -> dict[str, Any]:
    """The platform topic's policy (CDK's `enforce_ssl`) for another topic: no publish without TLS.
    It replaces SNS's default policy, which only repeats what the account's IAM grants."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RefuseUnencryptedPublish",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


class SnsEmailChannel:
    """E-mail alerts through one SNS topic per owner (principal), made at run time on first use.

    SNS asks an address to confirm once per (topic, address): with a topic per owner, an address
    that confirmed for one owner has not confirmed for another, whose alerts it gets only once it
    confirms that owner's subscription (the defect of one shared topic, where a second owner's
    alert joined the first owner's confirmed subscription). On an owner's topic, an address has one
    subscription for all that owner's alerts to it, filtered to their ids."""

    def __init__(self, topic_arn: str, client: Callable[[], Any]):
        """`topic_arn`: the platform's topic, the owners' topics are named from (and the topic of
        the subscriptions made before them). `client`: builds the SNS client when first needed."""
        name = topic_arn.rpartition(":")[2]
        if len(name) + 1 + OWNER_DIGEST_CHARS > TOPIC_NAME_MAX:
            raise ValueError(f"the alerts topic's name is too long to name its owners' topics from: {name}")
        self.topic_arn = topic_arn
        self._make_client = client
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._made: set[str] = set()  # owners' topics this process made or found (CreateTopic once)
        self._display_name: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SnsEmailChannel:
        if not settings.alerts_topic_arn:
            raise ValueError(f"alerts_topic_arn is not set ({TOPIC_SETTING}): the AWS stack sets it")

        def build() -> Any:
            from botocore.config import Config

            from trading_system.adapters.aws.clients import CONNECT_TIMEOUT_S, client

            # One attempt of at most SEND_TIMEOUT_S in all: the delivery schedule retries, hours
            # apart, and a send must not outlast the domain's bound with botocore's retries on top.
            connect = min(CONNECT_TIMEOUT_S, SEND_TIMEOUT_S / 2)
            config = Config(
                connect_timeout=connect,
                read_timeout=SEND_TIMEOUT_S - connect,
                retries={"total_max_attempts": 1, "mode": "standard"},
            )
            return client("sns", settings, config=config)

        return cls(settings.alerts_topic_arn, build)

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def topic_of(self, owner: str) -> str:
        return owner_topic_arn(self.topic_arn, owner)

    def register(self, alert_id: str, target: EmailTarget, owner: str) -> str:
        """Subscribes the address to the owner's topic for this alert's messages; answers the ref
        `unregister` takes. SNS mails the address to confirm, unless it already confirmed for this
        owner (an address confirms once per owner, never for another owner's alerts).

        A new address gets a subscription filtered to this alert at once. An address already
        subscribed for another of the owner's alerts keeps its one subscription, whose filter gains
        this alert: SNS refuses a second subscription of the same address with other attributes."""
        from botocore.exceptions import BotoCoreError, ClientError

        policy = json.dumps({"alert_id": [alert_id]})
        try:
            topic = self._owner_topic(owner)
            try:
                arn = self._subscribe(topic, target.address, {"FilterPolicy": policy})
            except ClientError as error:
                if _code(error) != "InvalidParameter" or "already exists" not in _message(error):
                    raise
                # Without attributes, Subscribe answers the address's existing subscription.
                arn = self._subscribe(topic, target.address, None)
            self._change_filter(arn, add=alert_id)
        except ClientError as error:
            if _code(error) == "InvalidParameter" and "Endpoint" in _message(error):
                raise ValidationFailed(
                    "SNS does not accept this e-mail address",
                    [Problem(_message(error), field="target.address")],
                ) from None
            if _code(error) == "InvalidParameter" and "FilterPolicy" in _message(error):
                # A filter policy has a size limit: one address cannot take every alert there is.
                raise ValidationFailed(
                    "this e-mail address has as many alerts as one subscription can filter: "
                    "delete one, or use another address",
                    [Problem(_message(error), field="target.address")],
                ) from None
            raise ChannelUnavailable(
                f"could not subscribe the address to the alerts topic: {_described(error)}"
            ) from None
        except BotoCoreError as error:
            raise ChannelUnavailable(
                f"could not subscribe the address to the alerts topic: {error}"
            ) from None
        return f"{arn}{_REF_SEPARATOR}{alert_id}"

    def registered_for(self, channel_ref: str | None, owner: str) -> bool:
        """Whether the ref's subscription is on the owner's topic (a subscription's ARN is its
        topic's and an id): not one on the platform topic, made before owners had topics."""
        if not channel_ref:
            return False
        subscription = channel_ref.partition(_REF_SEPARATOR)[0]
        return subscription.rpartition(":")[0] == self.topic_of(owner)

    def unregister(self, channel_ref: str | None) -> None:
        """Takes the alert out of its address's subscription (on the topic the ref names: its
        owner's, or the platform's for an alert made before), and ends the subscription when it
        was the address's last alert there; the address's subscriptions to other owners' topics
        are not touched. A subscription already gone (unconfirmed ones expire after three days; a
        person may unsubscribe from the e-mail) is fine."""
        if not channel_ref:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        arn, _, alert_id = channel_ref.partition(_REF_SEPARATOR)
        try:
            remaining = self._change_filter(arn, remove=alert_id) if alert_id else []
            if not remaining:
                self.client.unsubscribe(SubscriptionArn=arn)
        except ClientError as error:
            if _code(error) in _NOT_FOUND:
                return
            raise ChannelUnavailable(
                f"could not unsubscribe the address from the alerts topic: {_described(error)}"
            ) from None
        except BotoCoreError as error:
            raise ChannelUnavailable(
                f"could not unsubscribe the address from the alerts topic: {error}"
            ) from None

    def send(self, outgoing: Outgoing) -> Attempt:
        """Publishes on the alert's owner's topic, whose ARN is known without asking SNS: only the
        addresses that confirmed for that owner, and listed the alert, get it. An owner without a
        topic yet (an alert made before owners had topics, not moved) fails as NotFound."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            self.client.publish(
                TopicArn=self.topic_of(outgoing.owner),
                Subject=sns_subject(outgoing.subject),
                Message=outgoing.text,
                MessageAttributes={"alert_id": {"DataType": "String", "StringValue": outgoing.alert_id}},
            )
        except ClientError as error:
            code = _code(error)
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            retryable = code in _SNS_RETRYABLE or status >= 500 or status == 429
            return Attempt(ok=False, error=f"SNS: {_described(error)}", retryable=retryable)
        except (ConnectTimeoutError, ReadTimeoutError):
            return Attempt(ok=False, error="SNS: timed out", retryable=True)
        except (EndpointConnectionError, ConnectionError) as error:
            return Attempt(ok=False, error=f"SNS: could not connect ({type(error).__name__})", retryable=True)
        except BotoCoreError as error:
            return Attempt(ok=False, error=f"SNS: {_shortened(str(error), 160)}", retryable=False)
        return Attempt(ok=True)

    def owner_topics(self) -> list[str]:
        """The owners' topics made from this platform topic: named from it and tagged so (a topic
        someone else named alike, untagged, is not one of them)."""
        from botocore.exceptions import BotoCoreError, ClientError

        named = re.compile(re.escape(self.topic_arn) + f"-[0-9a-f]{{{OWNER_DIGEST_CHARS}}}")
        platform_name = self.topic_arn.rpartition(":")[2]
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_topics").paginate():
                for listed in page.get("Topics", []):
                    arn = str(listed["TopicArn"])
                    if not named.fullmatch(arn):
                        continue
                    tags = self.client.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
                    if {"Key": OWNER_TOPIC_TAG, "Value": platform_name} in tags:
                        found.append(arn)
        except (ClientError, BotoCoreError) as error:
            raise ChannelUnavailable(f"could not list the owners' alerts topics: {error}") from None
        return found

    def remove_owner_topics(self) -> list[str]:
        """Deletes every owner's topic (their subscriptions go with them); answers their ARNs.
        For tearing a deployment down: the stack did not make them, so `cdk destroy` leaves them."""
        from botocore.exceptions import BotoCoreError, ClientError

        removed: list[str] = []
        for arn in self.owner_topics():
            try:
                self.client.delete_topic(TopicArn=arn)
            except (ClientError, BotoCoreError) as error:
                raise ChannelUnavailable(f"could not delete the alerts topic {arn}: {error}") from None
            removed.append(arn)
        with self._client_lock:
            self._made.clear()
        return removed

    def _owner_topic(self, owner: str) -> str:
        """The owner's topic, made on first use with the platform topic's protections: encrypted
        with SNS's AWS managed key, a policy refusing publish without TLS, and a sender name
        telling the address whose alerts it is asked to confirm. CreateTopic answers an existing
        topic of the same name and attributes as it is, so concurrent first uses are fine; this
        process then remembers it, and publishing never calls CreateTopic (`send` derives the ARN)."""
        from botocore.exceptions import ClientError

        arn = self.topic_of(owner)
        with self._client_lock:
            if arn in self._made:
                return arn
        attributes = {
            "DisplayName": self._owner_display_name(owner),
            "KmsMasterKeyId": AWS_MANAGED_SNS_KEY,
            "Policy": json.dumps(tls_only_policy(arn)),
        }
        tags = [{"Key": OWNER_TOPIC_TAG, "Value": self.topic_arn.rpartition(":")[2]}]
        try:
            self.client.create_topic(Name=arn.rpartition(":")[2], Attributes=attributes, Tags=tags)
        except ClientError as error:
            # Made before with other attributes (the stack's display name changed since): the same
            # topic, with the subscriptions its addresses confirmed, so it is kept as it is.
            if _code(error) != "InvalidParameter" or "already exists" not in _message(error):
                raise
        with self._client_lock:
            self._made.add(arn)
        return arn

    def _owner_display_name(self, owner: str) -> str:
        """`<the platform topic's display name> of <owner>`: the stack's name (CDK sets the
        platform topic's) and the owner the address is asked to confirm for, within SNS's limit."""
        if self._display_name is None:
            attributes = self.client.get_topic_attributes(TopicArn=self.topic_arn).get("Attributes", {})
            self._display_name = str(attributes.get("DisplayName") or "Trading alerts")
        suffix = f" of {_DISPLAY_UNSAFE.sub('_', owner)}"[: DISPLAY_NAME_MAX // 2]
        return self._display_name[: DISPLAY_NAME_MAX - len(suffix)].rstrip() + suffix

    def _subscribe(self, topic_arn: str, address: str, attributes: dict[str, str] | None) -> str:
        arguments: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Protocol": "email",
            "Endpoint": address,
            "ReturnSubscriptionArn": True,  # the ARN even while the address has not confirmed
        }
        if attributes is not None:
            arguments["Attributes"] = attributes
        return str(self.client.subscribe(**arguments)["SubscriptionArn"])

    def _change_filter(self, arn: str, *, add: str | None = None, remove: str | None = None) -> list[str]:
        """Adds or removes an alert id in the subscription's filter policy; answers the ids left.

        A read, then a write: two alerts of one address registered at the same instant could lose
        one of the two (that alert would get no e-mail); rare enough for a person's own clicks."""
        attributes = self.client.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
        ids = _alert_ids(attributes.get("FilterPolicy"))
        wanted = [alert for alert in ids if alert != remove]
        if add is not None and add not in wanted:
            wanted.append(add)
        if wanted != ids and wanted:
            self.client.set_subscription_attributes(
                SubscriptionArn=arn,
                AttributeName="FilterPolicy",
                AttributeValue=json.dumps({"alert_id": wanted}),
            )
        return wanted


def _alert_ids(policy: str | None) -> list[str]:
    if not policy:
        return []
    try:
        values = json.loads(policy).get("alert_id", [])
    except (ValueError, AttributeError):
        return []
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _described(error: Any) -> str:
    message = _message(error)
    return _shortened(f"{_code(error)}: {message}" if message else _code(error) or "failed", 200)


# --- Both, by target kind --------------------------------------------------------------------


class Channels:
    """The AlertChannels port: URL, Slack and Discord targets over HTTP, e-mail over SNS."""

    def __init__(self, http: HttpChannel, email: SnsEmailChannel | None = None):
        self.http = http
        self.email = email

    @classmethod
    def from_settings(cls, settings: Settings) -> Channels:
        allow_private = settings.alerts_private_targets
        if allow_private is None:
            # Locally a private address is the user's own machine or network; in AWS it is the cloud's.
            allow_private = settings.runtime == "local"
        email = SnsEmailChannel.from_settings(settings) if settings.alerts_topic_arn else None
        return cls(HttpChannel(allow_private=allow_private), email)

    def refusal(self, target: Target) -> str | None:
        if isinstance(target, EmailTarget):
            if self.email is None:
                return (
                    f"e-mail alerts need an SNS topic, and none is configured: set {TOPIC_SETTING} "
                    "(the AWS stack sets it)"
                )
            return None
        return self.http.refusal(target)

    def register(self, alert_id: str, target: Target, owner: str) -> str | None:
        if isinstance(target, EmailTarget):
            return self._email().register(alert_id, target, owner)
        return None  # HTTP targets need nothing prepared

    def unregister(self, channel_ref: str | None, target: Target) -> None:
        if isinstance(target, EmailTarget) and channel_ref:
            self._email().unregister(channel_ref)

    def registered_for(self, channel_ref: str | None, target: Target, owner: str) -> bool:
        if isinstance(target, EmailTarget) and self.email is not None:
            return self.email.registered_for(channel_ref, owner)
        return True  # nothing was prepared, nothing to move (or no e-mail here: `send` says so)

    def send(self, outgoing: Outgoing) -> Attempt:
        if isinstance(outgoing.target, EmailTarget):
            if self.email is None:
                return Attempt(
                    ok=False,
                    error=f"e-mail alerts are not configured here ({TOPIC_SETTING} is not set)",
                    retryable=False,
                )
            return self.email.send(outgoing)
        return self.http.send(outgoing)

    def _email(self) -> SnsEmailChannel:
        if self.email is None:
            raise ChannelUnavailable(f"e-mail alerts are not configured here: set {TOPIC_SETTING}")
        return self.email
