"""Identity namespaces: the standard catalogue of xdm.md §3 and the identity types that decide
how the identity graph treats each namespace.

Graphs are not built for ``NON_PEOPLE`` and ``PARTNER`` identities: they never link. When a
graph grows past its cap, identities are evicted by type, in :data:`EVICTION_ORDER`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum


class IdentityType(StrEnum):
    """Identity types as Adobe's Identity Service names them (``idType``)."""

    COOKIE = "COOKIE"
    CROSS_DEVICE = "CROSS_DEVICE"
    DEVICE = "DEVICE"
    EMAIL = "EMAIL"
    MOBILE = "MOBILE"
    NON_PEOPLE = "NON_PEOPLE"
    PHONE = "PHONE"
    PARTNER = "PARTNER"


# Evicted first when a graph is over its cap (xdm.md §3): partner ids, then cookies, then
# devices, then the cross-device kinds.
EVICTION_ORDER: tuple[tuple[IdentityType, ...], ...] = (
    (IdentityType.PARTNER,),
    (IdentityType.COOKIE,),
    (IdentityType.DEVICE, IdentityType.MOBILE),
    (IdentityType.CROSS_DEVICE, IdentityType.EMAIL, IdentityType.PHONE, IdentityType.NON_PEOPLE),
)
UNLINKED_TYPES = frozenset({IdentityType.NON_PEOPLE, IdentityType.PARTNER})
MAX_IDENTITIES_PER_GRAPH = 50


@dataclass(frozen=True)
class Namespace:
    id: int
    code: str
    name: str
    id_type: IdentityType
    custom: bool = False
    description: str = ""

    @property
    def links(self) -> bool:
        """Whether identities of this namespace join identity graphs."""
        return self.id_type not in UNLINKED_TYPES

    @property
    def eviction_rank(self) -> int:
        """Lower is evicted first."""
        return next(i for i, types in enumerate(EVICTION_ORDER) if self.id_type in types)


STANDARD_NAMESPACES: tuple[Namespace, ...] = (
    Namespace(0, "CORE", "CORE", IdentityType.COOKIE),
    Namespace(4, "ECID", "Adobe Experience Cloud ID", IdentityType.COOKIE),
    Namespace(6, "Email", "Email", IdentityType.EMAIL),
    Namespace(7, "Phone", "Phone", IdentityType.PHONE),
    Namespace(9, "TNTID", "Adobe Target", IdentityType.CROSS_DEVICE),
    Namespace(10, "AAID", "Adobe Analytics (Legacy ID)", IdentityType.DEVICE),
    Namespace(11, "Email_LC_SHA256", "Emails (SHA256, lowercased)", IdentityType.EMAIL),
    Namespace(12, "Phone_E.164", "Phone (E.164)", IdentityType.PHONE),
    Namespace(13, "Phone_SHA256", "Phone (SHA256)", IdentityType.PHONE),
    Namespace(20, "GAID", "Google Ad ID (GAID)", IdentityType.DEVICE),
    Namespace(21, "IDFA", "Apple IDFA (ID for Advertisers)", IdentityType.DEVICE),
    Namespace(22, "WAID", "Windows AID", IdentityType.DEVICE),
    Namespace(411, "AdCloud", "AdCloud", IdentityType.COOKIE),
)
# Custom namespaces every sandbox starts with: the customer-id namespace of Adobe's examples.
BUILT_IN_CUSTOM_NAMESPACES: tuple[Namespace, ...] = (
    Namespace(1000, "CRMID", "CRM ID", IdentityType.CROSS_DEVICE, custom=True),
)


class NamespaceCatalog:
    """The namespaces an org can use: standard, built-in custom and its own custom ones."""

    def __init__(self, custom: Iterable[Namespace] = ()) -> None:
        every = (*STANDARD_NAMESPACES, *BUILT_IN_CUSTOM_NAMESPACES, *custom)
        self.by_code: Mapping[str, Namespace] = {ns.code: ns for ns in every}

    def get(self, code: str) -> Namespace | None:
        return self.by_code.get(code)

    def __iter__(self) -> Iterator[Namespace]:
        return iter(self.by_code.values())

    def __contains__(self, code: object) -> bool:
        return code in self.by_code
