"""Who may see and act on a paper account: its owner acts and reads, a reader an admin named
only reads, an admin does both on all; anyone else gets the NotFound of an unknown id. Accounts
stored before users existed are the first admin's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.trading_factories import ACCOUNT, T0, created
from trading_system.bootstrap import Container
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.errors import Forbidden, NotFound
from trading_system.kernel.event_store import NewEvent, StreamAppend
from trading_system.kernel.kinds import ACCOUNT_STREAMS
from trading_system.kernel.principal import FIRST_ADMIN, SYSTEM, Principal, Role
from trading_system.trading.access import may_act_on, may_read
from trading_system.trading.accounts import Account
from trading_system.trading.commands import (
    CreateAccount,
    GrantAccountReader,
    ResetAccount,
    RevokeAccountReader,
)
from trading_system.trading.events import (
    AccountCreated,
    AccountReaderGranted,
    AccountReaderRevoked,
    AccountReset,
)
from trading_system.trading.queries import GetAccount, ListAccounts, ListPositions


def as_user(user: str, role: Role = Role.TRADER) -> MessageContext:
    return MessageContext(principal=Principal(key_id=f"key-{user}", role=role, user=user))


# -- the aggregate ----------------------------------------------------------------------------


def test_an_event_stored_without_an_owner_reads_as_the_first_admins() -> None:
    stored = created().model_dump(mode="json")
    del stored["owner"]
    assert AccountCreated.model_validate(stored).owner == FIRST_ADMIN
    view = Account.created(created()).model_dump(mode="json")
    del view["owner"], view["readers"]
    assert Account.model_validate(view).owner == FIRST_ADMIN


def test_readers_fold_sorted_once_each_and_survive_a_reset() -> None:
    account = Account.created(created().model_copy(update={"owner": "alice"}))
    for user in ("carol", "bob", "carol"):
        account = account.apply(AccountReaderGranted(account_id=ACCOUNT, user=user, at=T0))
    assert account.readers == ("bob", "carol")
    account = account.apply(AccountReaderRevoked(account_id=ACCOUNT, user="bob", at=T0))
    account = account.apply(AccountReaderRevoked(account_id=ACCOUNT, user="nobody", at=T0))
    assert account.readers == ("carol",)
    reset = AccountReset(
        account_id=ACCOUNT, starting_cash=Decimal(5), settings=account.settings, epoch=1, at=T0
    )
    account = account.apply(reset)
    assert (account.owner, account.readers) == ("alice", ("carol",))


@pytest.mark.parametrize(
    ("user", "role", "acts", "reads"),
    [
        ("alice", Role.TRADER, True, True),  # the owner
        ("carol", Role.VIEWER, False, True),  # a reader
        ("bob", Role.TRADER, False, False),  # anyone else
        ("root", Role.ADMIN, True, True),  # an admin
    ],
)
def test_who_acts_and_who_reads(user: str, role: Role, acts: bool, reads: bool) -> None:
    account = Account.created(created().model_copy(update={"owner": "alice"}))
    account = account.apply(AccountReaderGranted(account_id=ACCOUNT, user="carol", at=T0))
    principal = Principal(key_id="k", role=role, user=user)
    assert (may_act_on(principal, account), may_read(principal, account)) == (acts, reads)


# -- through the bus --------------------------------------------------------------------------


def open_account(container: Container, account_id: str, owner: str | None) -> None:
    container.bus.execute(CreateAccount(account_id=account_id, starting_cash=Decimal(1000), owner=owner))


def test_another_users_account_answers_as_an_unknown_one(container: Container) -> None:
    open_account(container, "a1", "alice")
    assert container.bus.ask(GetAccount(account_id="a1"), as_user("alice")).owner == "alice"
    with pytest.raises(NotFound) as theirs:
        container.bus.ask(GetAccount(account_id="a1"), as_user("bob"))
    with pytest.raises(NotFound) as unknown:
        container.bus.ask(GetAccount(account_id="zz"), as_user("bob"))
    assert str(theirs.value) == str(unknown.value).replace("zz", "a1")
    with pytest.raises(NotFound):
        container.bus.ask(ListPositions(account_id="a1"), as_user("bob"))
    with pytest.raises(NotFound):
        container.bus.execute(ResetAccount(account_id="a1"), as_user("bob"))


def test_a_trader_creates_for_itself_and_only_an_admin_for_another(container: Container) -> None:
    made = container.bus.execute(CreateAccount(account_id="mine", starting_cash=Decimal(1)), as_user("alice"))
    assert made.owner == "alice"
    with pytest.raises(Forbidden):
        container.bus.execute(
            CreateAccount(account_id="theirs", starting_cash=Decimal(1), owner="bob"), as_user("alice")
        )
    by_admin = container.bus.execute(
        CreateAccount(account_id="theirs", starting_cash=Decimal(1), owner="bob"), as_user("root", Role.ADMIN)
    )
    assert by_admin.owner == "bob"
    # The platform's own work (SYSTEM) creates the first admin's.
    assert (
        container.bus.execute(CreateAccount(account_id="house", starting_cash=Decimal(1))).owner
        == FIRST_ADMIN
    )


def test_a_reader_lists_and_reads_until_revoked(container: Container) -> None:
    open_account(container, "a1", "alice")
    open_account(container, "b1", "bob")
    carol = as_user("carol", Role.VIEWER)
    assert container.bus.ask(ListAccounts(), carol) == []
    view = container.bus.execute(GrantAccountReader(account_id="a1", user="carol"))
    assert view.readers == ["carol"]
    assert [a.account_id for a in container.bus.ask(ListAccounts(), carol)] == ["a1"]
    assert container.bus.ask(GetAccount(account_id="a1"), carol).readers == ["carol"]
    container.bus.execute(RevokeAccountReader(account_id="a1", user="carol"))
    with pytest.raises(NotFound):
        container.bus.ask(GetAccount(account_id="a1"), carol)
    assert {a.account_id for a in container.bus.ask(ListAccounts(), MessageContext(principal=SYSTEM))} == {
        "a1",
        "b1",
    }


def test_a_stream_stored_before_owners_existed_is_the_first_admins(container: Container) -> None:
    legacy = created().model_dump(mode="json") | {"account_id": "old"}
    del legacy["owner"]
    container.event_store.append(
        [StreamAppend(f"{ACCOUNT_STREAMS}old", 0, [NewEvent("AccountCreated", legacy)])], [], {}
    )
    assert container.bus.ask(GetAccount(account_id="old"), as_user(FIRST_ADMIN)).owner == FIRST_ADMIN
    with pytest.raises(NotFound):
        container.bus.ask(GetAccount(account_id="old"), as_user("alice"))
