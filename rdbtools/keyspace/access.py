"""Each key's last access, kept as Redis keeps it in an object's 24-bit ``lru`` field.

Under an LRU maxmemory-policy (or none) the field is the LRU clock of the last access: unix seconds
modulo 2**24 (LRU_CLOCK_RESOLUTION 1000 ms), read from a value cached once per timer tick as Redis's
server.lruclock is. Under an LFU policy it holds the minute of the last access (16 bits) above a
logarithmic 8-bit counter that an access raises with probability 1/((counter-5)*lfu-log-factor+1) and
that loses one per lfu-decay-time minutes without access. Switching policy reinterprets the field, as
Redis does ("LRU and LFU data will take some time to adjust").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LRU_CLOCK_MAX = (1 << 24) - 1
LFU_INIT_VAL = 5  # a new key's counter, so that it is not evicted before it had a chance to be used
_MINUTES_MAX = 65535


def lru_clock(seconds: float) -> int:
    """Redis's getLRUClock: seconds (the resolution) modulo the 24-bit field."""
    return int(seconds) & LRU_CLOCK_MAX


@dataclass(slots=True)
class Access:
    """The policy and clock a lookup stamps keys with (the keyspace engine holds one)."""

    lfu: bool = False  # maxmemory-policy is allkeys-lfu or volatile-lfu
    lru: bool = False  # maxmemory-policy is allkeys-lru or volatile-lru (only RDB snapshots care)
    log_factor: int = 10  # lfu-log-factor
    decay_time: int = 1  # lfu-decay-time, minutes per counter step lost
    now: float = 0.0  # unix seconds at the last tick

    def clock(self) -> int:
        return lru_clock(self.now)

    def minutes(self) -> int:
        """Redis's LFUGetTimeInMinutes: 16 bits of unix minutes."""
        return (int(self.now) // 60) & _MINUTES_MAX

    def birth(self) -> int:
        """The field of a value created now (Redis's createObject)."""
        return (self.minutes() << 8) | LFU_INIT_VAL if self.lfu else self.clock()

    def idle_ms(self, field: int) -> int:
        """Redis's estimateObjectIdleTime: the LRU clock wraps after 194 days."""
        clock = self.clock()
        return (clock - field if clock >= field else clock + LRU_CLOCK_MAX - field) * 1000

    def frequency(self, field: int) -> int:
        """Redis's LFUDecrAndReturn: the counter less one per decay period since the last access."""
        counter = field & 255
        if not self.decay_time:
            return counter
        last, now = field >> 8, self.minutes()
        periods = (now - last if now >= last else _MINUTES_MAX - last + now) // self.decay_time
        return max(0, counter - periods)

    def accessed(self, field: int) -> int:
        """Redis's updateLFU: the decayed counter, raised with logarithmic probability, stamped now."""
        counter = self.frequency(field)
        if counter < 255 and random.random() < 1.0 / (max(0, counter - LFU_INIT_VAL) * self.log_factor + 1):
            counter += 1
        return (self.minutes() << 8) | counter

    def restored(self, field: int, freq: int | None, idle: int | None) -> int:
        """RESTORE's or an RDB's FREQ / IDLETIME (Redis's objectSetLRUOrLFU): each applies only under its
        kind of policy, else the field stays."""
        if self.lfu:
            return field if freq is None else (self.minutes() << 8) | freq
        if idle is None:
            return field
        clock = self.clock()
        at = clock - idle
        return at if at >= 0 else (clock + LRU_CLOCK_MAX // 2) % LRU_CLOCK_MAX  # far back: evict first

    def saved(self, field: int) -> tuple[int | None, int | None]:
        """What an RDB stores for a key, (IDLE seconds, FREQ): Redis writes IDLE under an LRU policy, FREQ
        under an LFU one, neither under the others."""
        if self.lfu:
            return None, self.frequency(field)
        return (self.idle_ms(field) // 1000 if self.lru else None), None
