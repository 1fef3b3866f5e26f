"""The alert channels against real receivers: a small HTTP(S) server on loopback that records
what it gets and answers what a test sets (tests/fakes/receiver.py), and SNS on moto's server.
Nothing leaves the machine; every wait is bounded by a short timeout."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.exceptions import SNSInvalidParameter
from moto.sns.models import Subscription, sns_backends
from moto.sns.responses import SNSResponse

from tests.aws_fixtures import REGION, aws_env, boto_client, moto_url, unique_name
from tests.fakes.receiver import Answer, Receiver
from trading_system.adapters.alert_channels import (
    AWS_MANAGED_SNS_KEY,
    DISCORD_MAX_CHARS,
    OWNER_TOPIC_TAG,
    TOPIC_SETTING,
    Channels,
    HttpChannel,
    SnsEmailChannel,
    TargetRefused,
    checked_addresses,
    owner_topic_arn,
    sns_subject,
    system_resolver,
)
from trading_system.alerts.domain import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alert,
    AlertDraft,
    Delivery,
    DiscordTarget,
    EmailTarget,
    Outgoing,
    SlackTarget,
    Target,
    Topic,
    UrlTarget,
    create,
    outgoing,
)
from trading_system.config import Settings
from trading_system.kernel.signing import signature_holds

__all__ = ["aws_env", "moto_url"]  # fixtures this module uses

NOW = dt.datetime(2026, 12, 6, 14, 30, tzinfo=dt.UTC)
SHORT_S = 0.3  # the channel's timeout where a test waits for it


# --- A receiver on loopback (tests/fakes/receiver.py) ----------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def loopback_for(*names: str) -> Callable[[str, int], Sequence[str]]:
    """A resolver that answers 127.0.0.1 for the made-up `names` and the system's for the rest."""

    def resolve(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"] if host in names else system_resolver(host, port)

    return resolve


def local_channel(**options: Any) -> HttpChannel:
    return HttpChannel(allow_private=True, timeout_s=options.pop("timeout_s", 2.0), **options)


OWNER = "u_1"


def alert_for(target: Target, name: str = "Oversold", owner: str = OWNER) -> Alert:
    draft = AlertDraft(name=name, topic=Topic.SIGNALS, source_id="sc_1", target=target)
    return create(draft, owner=owner, created_by="key_1", now=NOW)


def message(target: Target, name: str = "Oversold", owner: str = OWNER) -> tuple[Alert, Outgoing]:
    """An alert on `target` and what one attempt of a signal delivery sends."""
    alert = alert_for(target, name, owner)
    delivery = Delivery(
        delivery_id="8234567890123-0123456789abcdef",
        alert_id=alert.alert_id,
        event_id="0f8e0b9c-5d6f-4f0a-9b1c-2d3e4f5a6b7c",
        event_type="SignalDetected",
        occurred_at=NOW,
        envelope={
            "event_type": "SignalDetected",
            "payload": {"scanner_id": "sc_1", "scanner_name": "RSI dip", "symbol": "AAPL", "timeframe": "1d"},
        },
    )
    return alert, outgoing(alert, delivery, NOW)


# --- HTTP: what is sent ----------------------------------------------------------------------


def test_a_url_target_gets_the_signed_document(receiver: Receiver) -> None:
    alert, sent = message(UrlTarget(url=receiver.url("/in/alerts?team=7")))

    attempt = local_channel().send(sent)

    assert attempt.ok and attempt.status == 200 and attempt.error is None
    [request] = receiver.received
    assert request.path == "/in/alerts?team=7"
    assert request.body == sent.body
    assert json.loads(request.body)["alert_id"] == alert.alert_id
    assert request.headers["content-type"] == "application/json"
    assert "trading-system" in request.headers["user-agent"]
    assert request.headers[DELIVERY_HEADER] == sent.delivery_id
    assert alert.signing_key is not None
    assert signature_holds(
        alert.signing_key, request.headers[TIMESTAMP_HEADER], request.body, request.headers[SIGNATURE_HEADER]
    )
    assert not signature_holds(
        "another key", request.headers[TIMESTAMP_HEADER], request.body, request.headers[SIGNATURE_HEADER]
    )


def test_slack_gets_its_text_with_markup_escaped(receiver: Receiver) -> None:
    _, sent = message(SlackTarget(url=receiver.url("/services/T0/B0/x")), name="Dip <!channel> & co")

    assert local_channel().send(sent).ok

    [request] = receiver.received
    document = json.loads(request.body)
    assert list(document) == ["text"]
    assert document["text"] == sent.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert "<!channel>" not in document["text"] and "Dip &lt;!channel&gt; &amp; co" in document["text"]
    assert request.headers["content-type"] == "application/json"
    assert SIGNATURE_HEADER not in request.headers


def test_discord_gets_content_within_its_limit_and_pings_nobody(receiver: Receiver) -> None:
    _, short = message(DiscordTarget(url=receiver.url("/api/webhooks/1/x")), name="@everyone dip")
    _, long = message(DiscordTarget(url=receiver.url("/api/webhooks/1/x")), name="é" * 100)
    long = replace(long, text="😀" * 1500)  # 3000 UTF-16 units: Discord's count

    assert local_channel().send(short).ok and local_channel().send(long).ok

    first, second = (json.loads(request.body) for request in receiver.received)
    assert first["content"] == short.text
    assert first["allowed_mentions"] == {"parse": []}
    assert len(second["content"].encode("utf-16-le")) // 2 <= DISCORD_MAX_CHARS
    assert second["content"].endswith("…") and second["content"].startswith("😀" * 900)


def test_the_connection_goes_to_the_resolved_address_with_the_original_host(receiver: Receiver) -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["127.0.0.1"]

    _, sent = message(UrlTarget(url=receiver.url(host="alerts.example.test")))

    assert local_channel(resolve=resolve).send(sent).ok

    # Resolved once, by the channel (the name does not exist for the system resolver).
    assert asked == [("alerts.example.test", receiver.port)]
    assert receiver.received[0].headers["host"] == f"alerts.example.test:{receiver.port}"


def test_the_next_address_is_tried_when_one_refuses(receiver: Receiver) -> None:
    # 127.0.0.2 is loopback too, but nothing listens there on the receiver's port.
    channel = local_channel(resolve=lambda host, port: ["127.0.0.2", "127.0.0.1"])
    _, sent = message(UrlTarget(url=receiver.url(host="two.example.test")))

    assert channel.send(sent).ok
    assert len(receiver.received) == 1


# --- HTTP: how answers are classified -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
        (425, True),
        (404, False),
        (400, False),
        (401, False),
        (410, False),
    ],
)
def test_failures_say_their_status_and_whether_to_retry(
    receiver: Receiver, status: int, retryable: bool
) -> None:
    receiver.always(Answer(status=status, body=b""))
    _, sent = message(UrlTarget(url=receiver.url()))

    attempt = local_channel().send(sent)

    assert attempt == type(attempt)(ok=False, status=status, error=f"HTTP {status}", retryable=retryable)


def test_a_receivers_error_message_is_kept_short(receiver: Receiver) -> None:
    channel = local_channel()
    _, sent = message(SlackTarget(url=receiver.url()))

    receiver.always(Answer(status=404, body=b"no_service"))
    assert channel.send(sent).error == "HTTP 404: no_service"

    receiver.always(Answer(status=404, body=b'{"message": "Unknown Webhook", "code": 10015}'))
    assert channel.send(sent).error == "HTTP 404: Unknown Webhook"

    # A huge answer is not read whole, and its connection is not reused half-read.
    receiver.always(Answer(status=500, body=b"x" * 2_000_000))
    started = time.monotonic()
    attempt = channel.send(sent)
    assert attempt.retryable and attempt.error is not None and len(attempt.error) < 140
    assert time.monotonic() - started < 2

    receiver.always(Answer())
    assert channel.send(sent).ok


def test_a_slow_receiver_times_out_and_may_be_retried(receiver: Receiver) -> None:
    receiver.always(Answer(delay_s=1.0))
    _, sent = message(UrlTarget(url=receiver.url()))

    started = time.monotonic()
    attempt = HttpChannel(allow_private=True, timeout_s=SHORT_S).send(sent)

    assert time.monotonic() - started < 0.9
    assert attempt.ok is False and attempt.retryable and attempt.status is None
    assert attempt.error == "timed out after 0.3 s"


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.always(Answer(status=302, body=b"", location="http://169.254.169.254/latest/meta-data/"))
    _, sent = message(UrlTarget(url=receiver.url()))

    attempt = local_channel().send(sent)

    assert len(receiver.received) == 1
    assert attempt.ok is False and attempt.status == 302 and attempt.retryable is False
    assert attempt.error == (
        "HTTP 302: alerts do not follow redirects (it pointed to http://169.254.169.254/latest/meta-data/)"
    )


def test_a_closed_port_is_a_refused_connection_worth_retrying() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, sent = message(UrlTarget(url=f"http://127.0.0.1:{port}/hook"))

    attempt = local_channel().send(sent)

    assert attempt == type(attempt)(ok=False, error="connection refused", retryable=True)


def test_an_unknown_host_is_a_resolution_failure() -> None:
    _, sent = message(UrlTarget(url="http://no-such-host.invalid/hook"))

    attempt = local_channel(resolve=lambda host, port: []).send(sent)

    assert attempt.ok is False and attempt.retryable
    assert attempt.error is not None and attempt.error.startswith("could not resolve no-such-host.invalid")


# --- HTTP: private targets -------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]", "api.localhost"]
)
def test_private_targets_are_refused_by_their_text(host: str) -> None:
    channel = HttpChannel(allow_private=False)
    for target in (
        UrlTarget(url=f"http://{host}/x"),
        SlackTarget(url=f"https://{host}/x"),
        DiscordTarget(url=f"http://{host}/x"),
    ):
        why = channel.refusal(target)
        assert why is not None and "private" in why and "may not reach" in why
    assert HttpChannel(allow_private=True).refusal(UrlTarget(url=f"http://{host}/x")) is None


def test_public_looking_targets_pass_the_text_check() -> None:
    channel = HttpChannel(allow_private=False)

    assert channel.refusal(SlackTarget(url="https://hooks.slack.com/services/T0/B0/x")) is None
    assert channel.refusal(UrlTarget(url="https://8.8.8.8/x")) is None
    assert "port" in (channel.refusal(UrlTarget(url="https://example.com:99999/x")) or "")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_targets_are_not_sent_to_unless_allowed(receiver: Receiver, host: str) -> None:
    _, sent = message(UrlTarget(url=receiver.url(host=host)))

    refused = HttpChannel(allow_private=False, timeout_s=2.0).send(sent)

    assert refused.ok is False and refused.retryable is False and refused.status is None
    assert refused.error is not None and refused.error.startswith("refused: ")
    assert receiver.received == []
    assert local_channel().send(sent).ok and len(receiver.received) == 1


def test_a_stalled_resolver_is_given_up_on_within_the_timeout_and_retried_later(receiver: Receiver) -> None:
    released = threading.Event()

    def stalled(host: str, port: int) -> Sequence[str]:
        released.wait(10)  # a DNS server that does not answer: getaddrinfo has no timeout of its own
        return ["127.0.0.1"]

    channel = local_channel(timeout_s=SHORT_S, resolve=stalled)
    _, sent = message(UrlTarget(url=receiver.url(host="slow-dns.example.test")))
    began = time.monotonic()
    attempt = channel.send(sent)
    took = time.monotonic() - began
    released.set()
    channel.close()

    assert attempt.ok is False and attempt.retryable is True, attempt
    assert attempt.error == f"could not resolve slow-dns.example.test within {SHORT_S:g} s"
    assert took < SHORT_S + 1.0, took
    assert receiver.received == []


def test_a_name_for_a_private_address_is_refused_when_sending(receiver: Receiver) -> None:
    # Nothing in the text says private: only what the name resolves to does.
    _, sent = message(UrlTarget(url=receiver.url(host="innocent.example.test")))
    channel = HttpChannel(allow_private=False, timeout_s=2.0, resolve=loopback_for("innocent.example.test"))

    assert channel.refusal(sent.target) is None  # type: ignore[arg-type]
    attempt = channel.send(sent)

    assert attempt.ok is False and attempt.retryable is False
    assert attempt.error == (
        "refused: innocent.example.test resolves to a loopback, private or link-local address (127.0.0.1): "
        "alerts may not reach those here"
    )
    assert receiver.received == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.1"],
        ["169.254.169.254"],
        ["192.168.1.20"],
        ["100.64.0.1"],  # carrier-grade NAT
        ["0.0.0.0"],
        ["fd00::1"],
        ["fe80::1%eth0"],
        ["::ffff:127.0.0.1"],  # loopback, written as IPv6
        ["93.184.216.34", "10.0.0.1"],  # mixed: the resolver may answer either next time
        ["2606:2800:220:1::1", "::1"],
    ],
)
def test_a_name_resolving_to_any_private_address_is_refused(addresses: list[str]) -> None:
    with pytest.raises(
        TargetRefused, match=re.escape("alerts.example.com resolves to a loopback, private or link-local")
    ):
        checked_addresses(
            "alerts.example.com", 443, allow_private=False, resolve=lambda host, port: addresses
        )
    assert (
        checked_addresses("alerts.example.com", 443, allow_private=True, resolve=lambda host, port: addresses)
        == addresses
    )


def test_a_name_resolving_to_public_addresses_passes_in_the_resolvers_order() -> None:
    addresses = ["93.184.216.34", "2606:2800:220:1::1"]

    assert (
        checked_addresses("example.com", 443, allow_private=False, resolve=lambda host, port: addresses)
        == addresses
    )


def test_numeric_spellings_of_loopback_are_caught_by_resolving() -> None:
    # The text check cannot know that these are 127.0.0.1; the system resolver does.
    for host in ("2130706433", "127.1", "0x7f.0.0.1", "localhost"):
        assert "127.0.0.1" in system_resolver(host, 80) or "::1" in system_resolver(host, 80)
        with pytest.raises(TargetRefused):
            checked_addresses(host, 80, allow_private=False)


# --- HTTPS: TLS checked against the URL's name, while connected to an address ---------------


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA, and a certificate it issued for `alerts.example.test` only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alerts test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alerts.example.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("alerts.example.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    made = Certificates(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    made.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    made.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    made.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return made


@pytest.fixture
def tls_receiver(certificates: Certificates) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert_file, certificates.key_file)
    with Receiver(tls=context) as running:
        yield running


def test_https_keeps_the_name_for_sni_and_the_certificate(
    tls_receiver: Receiver, certificates: Certificates
) -> None:
    channel = local_channel(
        resolve=loopback_for("alerts.example.test", "impostor.example.test"),
        ca_certs=str(certificates.ca_file),
    )
    _, sent = message(UrlTarget(url=tls_receiver.url(host="alerts.example.test", scheme="https")))

    attempt = channel.send(sent)

    assert attempt.ok, attempt
    assert tls_receiver.server_names == ["alerts.example.test"]
    assert tls_receiver.received[0].headers["host"] == f"alerts.example.test:{tls_receiver.port}"

    # The same address under a name the certificate is not for: no request goes out.
    _, elsewhere = message(UrlTarget(url=tls_receiver.url(host="impostor.example.test", scheme="https")))
    refused = channel.send(elsewhere)

    assert refused.ok is False and refused.retryable is False
    assert refused.error is not None and refused.error.startswith("TLS certificate not accepted")
    assert "impostor.example.test" in refused.error
    assert len(tls_receiver.received) == 1


def test_https_with_an_untrusted_certificate_is_not_sent_to(tls_receiver: Receiver) -> None:
    channel = local_channel(resolve=loopback_for("alerts.example.test"))  # the system's CAs only
    _, sent = message(UrlTarget(url=tls_receiver.url(host="alerts.example.test", scheme="https")))

    attempt = channel.send(sent)

    assert attempt.ok is False and attempt.retryable is False
    assert attempt.error is not None and "TLS certificate not accepted" in attempt.error
    assert tls_receiver.received == []


# --- SNS: e-mail -----------------------------------------------------------------------------


@pytest.fixture
def sns(moto_url: str) -> Any:
    return boto_client("sns", moto_url)


PLATFORM_DISPLAY_NAME = "TradingSystem alerts"  # what CDK sets on the stack's topic


@pytest.fixture
def topic(sns: Any) -> str:
    """The platform's topic, as the stack deploys it (the owners' topics are named from it)."""
    attributes = {"DisplayName": PLATFORM_DISPLAY_NAME}
    return str(sns.create_topic(Name=unique_name("alerts"), Attributes=attributes)["TopicArn"])


@pytest.fixture
def topic_of(topic: str) -> Callable[[str], str]:
    """An owner's topic's ARN."""
    return lambda owner: owner_topic_arn(topic, owner)


@pytest.fixture
def settings(moto_url: str, topic: str) -> Settings:
    return Settings(runtime="aws", aws_endpoint_url=moto_url, alerts_topic_arn=topic)


@pytest.fixture
def sns_subscribe_like_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subscribe as SNS answers it: one subscription per (topic, protocol, endpoint), and a second
    Subscribe with other attributes refused rather than (as moto 5.2.5 does) overwriting them; a
    new e-mail subscription pending until its address confirms (`confirm`), where moto confirms
    every subscription at once."""
    subscribe = SNSResponse.subscribe

    def like_aws(self: SNSResponse) -> Any:
        topic_arn, endpoint, protocol = (
            self._get_param("TopicArn"),
            self._get_param("Endpoint"),
            self._get_param("Protocol"),
        )
        existing = self.backend._find_subscription(topic_arn, endpoint, protocol)
        asked = self._get_attributes()
        if existing is not None and any(
            existing.attributes.get(name) != value for name, value in asked.items()
        ):
            raise SNSInvalidParameter(
                "Invalid parameter: Attributes Reason: Subscription already exists with different attributes"
            )
        answer = subscribe(self)
        made = self.backend._find_subscription(topic_arn, endpoint, protocol)
        if existing is None and made is not None and protocol == "email":
            made.attributes["PendingConfirmation"] = "true"
        return answer

    monkeypatch.setattr(SNSResponse, "subscribe", like_aws)


def confirm(subscription_arn: str) -> None:
    """The address follows the link in AWS's confirmation e-mail (moto's server runs in-process)."""
    subscription = sns_backends[DEFAULT_ACCOUNT_ID][REGION].subscriptions[subscription_arn]
    subscription.attributes["PendingConfirmation"] = "false"


@dataclass(frozen=True)
class Mail:
    subscription_arn: str
    address: str
    message: str


@pytest.fixture
def mailed(monkeypatch: pytest.MonkeyPatch) -> list[Mail]:
    """What SNS would mail, as moto's server publishes it (moto mails nothing): each message to
    each confirmed e-mail subscription whose filter policy lets it through."""
    sent: list[Mail] = []
    publish = Subscription.publish

    def recording(self: Subscription, message: str, message_id: str, **options: Any) -> None:
        matcher = self._filter_policy_matcher
        passes = matcher is None or matcher.matches(options.get("message_attributes"), message)
        if self.protocol == "email" and passes and self.attributes.get("PendingConfirmation") != "true":
            sent.append(Mail(self.arn, self.endpoint, message))
        publish(self, message, message_id, **options)

    monkeypatch.setattr(Subscription, "publish", recording)
    return sent


def queue_on(moto_url: str, topic: str, alert_id: str | None, *, raw: bool = True) -> str:
    """A queue subscribed to the topic (only for `alert_id`'s messages, when given); its URL."""
    sqs = boto_client("sqs", moto_url)
    url = str(sqs.create_queue(QueueName=unique_name("alerts-inbox"))["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true" if raw else "false"}
    if alert_id is not None:
        attributes["FilterPolicy"] = json.dumps({"alert_id": [alert_id]})
    boto_client("sns", moto_url).subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes
    )
    return url


def received(moto_url: str, queue_url: str) -> list[dict[str, Any]]:
    answer = boto_client("sqs", moto_url).receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )
    return list(answer.get("Messages", []))


def email_subscriptions(sns: Any, topic: str) -> list[dict[str, Any]]:
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return [subscription for subscription in listed if subscription["Protocol"] == "email"]


def filter_of(sns: Any, subscription_arn: str) -> Any:
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    return json.loads(attributes["FilterPolicy"])


def test_register_subscribes_the_address_for_the_alert_only(
    settings: Settings, sns: Any, topic: str, topic_of: Callable[[str], str]
) -> None:
    channel = SnsEmailChannel.from_settings(settings)
    target = EmailTarget(address="trader@example.com")

    ref = channel.register("al_one", target, OWNER)

    assert email_subscriptions(sns, topic) == []  # not on the platform's topic: on the owner's
    [subscription] = email_subscriptions(sns, topic_of(OWNER))
    assert subscription["Endpoint"] == "trader@example.com"
    assert ref.startswith(subscription["SubscriptionArn"])
    assert filter_of(sns, subscription["SubscriptionArn"]) == {"alert_id": ["al_one"]}
    assert channel.register("al_one", target, OWNER) == ref  # again: the same, nothing added
    assert channel.registered_for(ref, OWNER) and not channel.registered_for(ref, "u_2")

    channel.unregister(ref)

    assert email_subscriptions(sns, topic_of(OWNER)) == []
    channel.unregister(ref)  # already gone: fine


def test_an_owners_alerts_to_one_address_share_its_subscription(
    settings: Settings, sns: Any, topic_of: Callable[[str], str], sns_subscribe_like_aws: None
) -> None:
    channel = SnsEmailChannel.from_settings(settings)
    target = EmailTarget(address="trader@example.com")

    first = channel.register("al_one", target, OWNER)
    second = channel.register("al_two", target, OWNER)

    [subscription] = email_subscriptions(sns, topic_of(OWNER))
    arn = subscription["SubscriptionArn"]
    assert filter_of(sns, arn) == {"alert_id": ["al_one", "al_two"]}

    channel.unregister(first)
    assert filter_of(sns, arn) == {"alert_id": ["al_two"]}
    channel.unregister(second)
    assert email_subscriptions(sns, topic_of(OWNER)) == []


def test_an_address_confirmed_for_one_owner_gets_nothing_of_anothers_until_it_confirms_for_them(
    settings: Settings,
    sns: Any,
    topic_of: Callable[[str], str],
    sns_subscribe_like_aws: None,
    mailed: list[Mail],
) -> None:
    """The issue's defect: with one topic, B's alert to an address A had it confirm joined A's
    confirmed subscription, so B could mail anyone who once confirmed for A."""
    channel = SnsEmailChannel.from_settings(settings)
    address = EmailTarget(address="shared@example.com")
    alert_a, to_a = message(address, "A's dip", owner="u_a")
    alert_b, to_b = message(address, "B's dip", owner="u_b")
    ref_a = channel.register(alert_a.alert_id, address, "u_a")
    confirm(ref_a.partition("#")[0])

    ref_b = channel.register(alert_b.alert_id, address, "u_b")

    [sub_a] = email_subscriptions(sns, topic_of("u_a"))
    [sub_b] = email_subscriptions(sns, topic_of("u_b"))
    assert filter_of(sns, sub_a["SubscriptionArn"]) == {"alert_id": [alert_a.alert_id]}  # B not added
    assert topic_of("u_a") != topic_of("u_b")
    assert ref_a.startswith(sub_a["SubscriptionArn"]) and ref_b.startswith(sub_b["SubscriptionArn"])
    assert filter_of(sns, sub_b["SubscriptionArn"]) == {"alert_id": [alert_b.alert_id]}
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub_b["SubscriptionArn"])["Attributes"]
    assert attributes["PendingConfirmation"] == "true"  # SNS asks the address, for B

    assert channel.send(to_b).ok and channel.send(to_a).ok

    assert mailed == [Mail(sub_a["SubscriptionArn"], "shared@example.com", to_a.text)]  # nothing of B's

    confirm(sub_b["SubscriptionArn"])  # the address agrees to B's alerts too
    mailed.clear()
    assert channel.send(to_b).ok
    assert mailed == [Mail(sub_b["SubscriptionArn"], "shared@example.com", to_b.text)]

    channel.unregister(ref_a)  # A's deletion: A's subscription only
    assert email_subscriptions(sns, topic_of("u_a")) == []
    assert email_subscriptions(sns, topic_of("u_b")) == [sub_b]
    assert filter_of(sns, sub_b["SubscriptionArn"]) == {"alert_id": [alert_b.alert_id]}


def test_an_owners_topic_has_the_platform_topics_protections(
    settings: Settings, sns: Any, topic: str, topic_of: Callable[[str], str]
) -> None:
    channel = SnsEmailChannel.from_settings(settings)

    channel.register("al_one", EmailTarget(address="trader@example.com"), "u_7")

    arn = topic_of("u_7")
    name = arn.rpartition(":")[2]
    platform_name = topic.rpartition(":")[2]
    assert re.fullmatch(re.escape(platform_name) + "-[0-9a-f]{16}", name)  # no owner id in it
    assert arn.rpartition(":")[0] == topic.rpartition(":")[0]  # same region and account
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == AWS_MANAGED_SNS_KEY
    assert attributes["DisplayName"] == f"{PLATFORM_DISPLAY_NAME} of u_7"
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "sns:Publish" and statement["Resource"] == arn
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    assert tags == [{"Key": OWNER_TOPIC_TAG, "Value": platform_name}]


def test_owner_topics_are_made_once_per_process_and_named_stably(
    settings: Settings, sns: Any, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = SnsEmailChannel.from_settings(settings)
    made: list[str] = []
    create_topic = channel.client.create_topic

    def counted(**arguments: Any) -> Any:
        made.append(arguments["Name"])
        return create_topic(**arguments)

    monkeypatch.setattr(channel.client, "create_topic", counted)

    for n in range(3):
        channel.register(f"al_{n}", EmailTarget(address=f"t{n}@example.com"), "u_once")
    assert len(made) == 1
    # Another process (a new channel) finds the same topic: CreateTopic answers it as it is.
    again = SnsEmailChannel.from_settings(settings)
    again.register("al_9", EmailTarget(address="t9@example.com"), "u_once")
    assert len(email_subscriptions(sns, owner_topic_arn(topic, "u_once"))) == 4
    assert (
        owner_topic_arn(topic, "u_once") == owner_topic_arn(topic, "u_once") != owner_topic_arn(topic, "u_x")
    )
    # An owner id of any characters still makes a valid topic name; a name too long is refused early.
    odd = channel.register("al_odd", EmailTarget(address="o@example.com"), "Jöse ü@x/y:z")
    assert odd.startswith(owner_topic_arn(topic, "Jöse ü@x/y:z"))
    odd_display = sns.get_topic_attributes(TopicArn=owner_topic_arn(topic, "Jöse ü@x/y:z"))["Attributes"]
    assert odd_display["DisplayName"] == f"{PLATFORM_DISPLAY_NAME} of J_se _x_y_z"
    channel.register("al_long", EmailTarget(address="l@example.com"), "u" * 300)
    long_display = sns.get_topic_attributes(TopicArn=owner_topic_arn(topic, "u" * 300))["Attributes"]
    assert len(long_display["DisplayName"]) <= 100 and long_display["DisplayName"].startswith(
        PLATFORM_DISPLAY_NAME
    )
    with pytest.raises(ValueError, match="too long"):
        SnsEmailChannel("arn:aws:sns:us-east-1:123456789012:" + "t" * 240, lambda: None)


def test_a_message_reaches_only_its_alerts_subscribers(
    settings: Settings, moto_url: str, topic: str, topic_of: Callable[[str], str]
) -> None:
    alert, sent = message(EmailTarget(address="trader@example.com"), name="Oversold now: café ✓")
    channel = SnsEmailChannel.from_settings(settings)
    channel.register(alert.alert_id, EmailTarget(address="trader@example.com"), OWNER)
    mine = topic_of(OWNER)
    inbox = queue_on(moto_url, mine, alert.alert_id)
    other_inbox = queue_on(moto_url, mine, "al_someone_else")
    everything = queue_on(moto_url, mine, None, raw=False)
    on_platform_topic = queue_on(moto_url, topic, None)

    attempt = channel.send(sent)

    assert attempt.ok and attempt.error is None
    [delivered] = received(moto_url, inbox)
    assert delivered["Body"] == sent.text
    assert delivered["MessageAttributes"]["alert_id"]["StringValue"] == alert.alert_id
    assert received(moto_url, other_inbox) == []
    assert received(moto_url, on_platform_topic) == []  # nothing goes out on the shared topic
    [envelope] = received(moto_url, everything)
    assert json.loads(envelope["Body"])["Subject"] == sns_subject(sent.subject)
    assert sns_subject(sent.subject).startswith("Oversold now: cafe : RSI dip signalled AAPL")


def test_an_owner_without_a_topic_yet_gets_nothing_sent(settings: Settings) -> None:
    """An alert subscribed on the platform's topic before owners had topics, not moved yet: its
    owner's topic does not exist, so nothing goes out (and the shared subscription gets nothing)."""
    _, sent = message(EmailTarget(address="trader@example.com"), owner="u_never_registered")

    attempt = SnsEmailChannel.from_settings(settings).send(sent)

    assert attempt.ok is False and attempt.retryable is False
    assert attempt.error is not None and attempt.error.startswith("SNS: NotFound")


def test_owner_topics_are_listed_and_removed_with_their_subscriptions(
    settings: Settings, sns: Any, topic: str, topic_of: Callable[[str], str]
) -> None:
    channel = SnsEmailChannel.from_settings(settings)
    for owner in ("u_a", "u_b"):
        channel.register(f"al_{owner}", EmailTarget(address="trader@example.com"), owner)
    lookalike = sns.create_topic(Name=topic.rpartition(":")[2] + "-0123456789abcdef")["TopicArn"]  # untagged
    other = sns.create_topic(Name=unique_name("alerts"))["TopicArn"]

    assert sorted(channel.owner_topics()) == sorted([topic_of("u_a"), topic_of("u_b")])
    assert sorted(channel.remove_owner_topics()) == sorted([topic_of("u_a"), topic_of("u_b")])

    listed = {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert topic_of("u_a") not in listed and topic_of("u_b") not in listed
    assert {topic, lookalike, other} <= listed  # the stack's topic, and anyone else's, stay
    assert channel.owner_topics() == []
    # Used again after, the channel makes the owner's topic again.
    channel.register("al_again", EmailTarget(address="trader@example.com"), "u_a")
    assert channel.owner_topics() == [topic_of("u_a")]


def test_publishing_to_a_missing_topic_fails_without_raising(moto_url: str, topic: str) -> None:
    missing = topic.rsplit(":", 1)[0] + ":" + unique_name("gone")
    channel = SnsEmailChannel.from_settings(Settings(aws_endpoint_url=moto_url, alerts_topic_arn=missing))
    _, sent = message(EmailTarget(address="trader@example.com"))

    attempt = channel.send(sent)

    assert attempt.ok is False and attempt.retryable is False
    assert attempt.error is not None and attempt.error.startswith("SNS: NotFound")


def test_sns_unreachable_is_worth_retrying() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        aws_endpoint_url=f"http://127.0.0.1:{port}", alerts_topic_arn="arn:aws:sns:us-east-1:1:t"
    )
    _, sent = message(EmailTarget(address="trader@example.com"))

    attempt = SnsEmailChannel.from_settings(settings).send(sent)

    assert attempt.ok is False and attempt.retryable
    assert attempt.error is not None and attempt.error.startswith("SNS: could not connect")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Oversold: AAPL", "Oversold: AAPL"),
        ("Line one\nline two\ttab", "Line one line two tab"),
        ("Crème brûlée ✓ 📈", "Creme brulee"),
        ("✓📈", "Trading alert"),
        ("x" * 150, "x" * 96 + "..."),
    ],
)
def test_subjects_are_made_sns_safe(subject: str, expected: str) -> None:
    safe = sns_subject(subject)

    assert safe == expected
    assert safe.isascii() and safe.isprintable() and len(safe) < 100


# --- Both, by target kind --------------------------------------------------------------------


def test_email_is_refused_without_a_topic(receiver: Receiver) -> None:
    channels = Channels.from_settings(Settings(runtime="local"))
    target = EmailTarget(address="trader@example.com")

    why = channels.refusal(target)

    assert why is not None and "SNS topic" in why and TOPIC_SETTING in why
    assert TOPIC_SETTING == "TRADING_ALERTS_TOPIC_ARN"
    _, sent = message(target)
    assert channels.send(sent).retryable is False
    # Locally, the user's own machine is a fine target.
    assert channels.refusal(UrlTarget(url=receiver.url())) is None


def test_private_targets_follow_the_runtime_unless_set() -> None:
    local = UrlTarget(url="http://127.0.0.1:9/x")

    assert Channels.from_settings(Settings(runtime="local")).refusal(local) is None
    assert Channels.from_settings(Settings(runtime="aws")).refusal(local) is not None
    assert Channels.from_settings(Settings(runtime="aws", alerts_private_targets=True)).refusal(local) is None
    assert (
        Channels.from_settings(Settings(runtime="local", alerts_private_targets=False)).refusal(local)
        is not None
    )


def test_channels_dispatch_by_target_kind(
    settings: Settings, moto_url: str, topic: str, receiver: Receiver
) -> None:
    channels = Channels.from_settings(settings.model_copy(update={"alerts_private_targets": True}))
    email = EmailTarget(address="trader@example.com")
    slack = SlackTarget(url=receiver.url())

    assert channels.refusal(email) is None and channels.refusal(slack) is None
    slack_alert, to_slack = message(slack)
    mail_alert, to_mail = message(email)
    assert channels.register(slack_alert.alert_id, slack, OWNER) is None  # nothing to prepare
    ref = channels.register(mail_alert.alert_id, email, OWNER)
    assert ref is not None
    assert channels.registered_for(ref, email, OWNER) and channels.registered_for(None, slack, OWNER)
    inbox = queue_on(moto_url, owner_topic_arn(topic, OWNER), mail_alert.alert_id)

    assert channels.send(to_slack).ok and channels.send(to_mail).ok

    assert len(receiver.received) == 1
    assert [m["Body"] for m in received(moto_url, inbox)] == [to_mail.text]
    channels.unregister(ref, email)
    channels.unregister(None, slack)
    assert email_subscriptions(boto_client("sns", moto_url), owner_topic_arn(topic, OWNER)) == []
