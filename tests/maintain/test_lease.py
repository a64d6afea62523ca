"""The maintenance lease: one holder at a time, expired leases taken over."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from obstore.store import LocalStore

from coptwin.maintenance.lease import LEASE_PATH, LeaseBusy, MaintenanceLease


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def test_second_holder_is_refused_until_release(tmp_path):
    store = LocalStore(str(tmp_path))
    first = MaintenanceLease(store)
    first.acquire()
    doc = json.loads((tmp_path / LEASE_PATH).read_text())
    assert doc["token"] == first.token and doc["owner"] == first.owner
    with pytest.raises(LeaseBusy, match="holds the lease"):
        MaintenanceLease(store).acquire()
    assert first.still_mine()
    first.release()
    assert not (tmp_path / LEASE_PATH).exists()
    with MaintenanceLease(store) as again:
        assert again.still_mine()
    assert not (tmp_path / LEASE_PATH).exists()


def test_expired_lease_is_taken_over_and_the_old_holder_notices(tmp_path):
    store = LocalStore(str(tmp_path))
    clock = Clock()
    crashed = MaintenanceLease(store, ttl_s=60, clock=clock)
    crashed.acquire()
    clock.now += dt.timedelta(seconds=30)
    with pytest.raises(LeaseBusy):
        MaintenanceLease(store, ttl_s=60, clock=clock).acquire()
    clock.now += dt.timedelta(seconds=31)
    new = MaintenanceLease(store, ttl_s=60, clock=clock)
    new.acquire()
    assert new.still_mine() and not crashed.still_mine()
    crashed.release()  # must not delete the new holder's lease
    assert (tmp_path / LEASE_PATH).exists()
    new.release()


def test_unreadable_lease_counts_as_expired(tmp_path):
    (tmp_path / LEASE_PATH).parent.mkdir(parents=True)
    (tmp_path / LEASE_PATH).write_text("{not json")
    lease = MaintenanceLease(LocalStore(str(tmp_path)))
    lease.acquire()
    assert lease.still_mine()
