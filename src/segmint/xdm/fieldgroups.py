"""The standard XDM field groups Segmint knows: Individual Profile and ExperienceEvent.

Field names are the instance form used in Platform data and in PQL (no ``xdm:`` prefix).
Only what segment definitions commonly read is listed; tenant fields (``_<tenant>``) are
added per sandbox by :func:`segmint.xdm.schema.build_schema`.
"""

from __future__ import annotations

from segmint.pql.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
)


def obj(type_name: str, /, **fields: PQLType) -> ObjectType:
    return ObjectType(type_name, dict(fields))


IDENTITY_ITEM = obj("IdentityItem", id=STRING, authenticatedState=STRING, primary=BOOLEAN)
IDENTITY_MAP = MapType(ArrayType(IDENTITY_ITEM))

SEGMENT_MEMBERSHIP_ITEM = obj(
    "SegmentMembership",
    status=STRING,
    lastQualificationTime=DATETIME,
    version=STRING,
    validUntil=DATETIME,
)
SEGMENT_MEMBERSHIP = MapType(MapType(SEGMENT_MEMBERSHIP_ITEM))

PERSON_NAME = obj(
    "PersonName",
    firstName=STRING,
    lastName=STRING,
    middleName=STRING,
    fullName=STRING,
    courtesyTitle=STRING,
    suffix=STRING,
)
PERSON = obj(
    "Person",
    name=PERSON_NAME,
    birthDate=DATE,
    birthDayAndMonth=STRING,
    birthYear=INTEGER,
    gender=STRING,
    maritalStatus=STRING,
    nationality=STRING,
    taxId=STRING,
    type=STRING,
)
POSTAL_ADDRESS = obj(
    "PostalAddress",
    street1=STRING,
    street2=STRING,
    city=STRING,
    stateProvince=STRING,
    postalCode=STRING,
    country=STRING,
    countryCode=STRING,
    region=STRING,
    primary=BOOLEAN,
    label=STRING,
    status=STRING,
)
EMAIL_ADDRESS = obj(
    "EmailAddress", address=STRING, primary=BOOLEAN, type=STRING, status=STRING, label=STRING
)
PHONE_NUMBER = obj(
    "PhoneNumber",
    number=STRING,
    countryCode=STRING,
    extension=STRING,
    primary=BOOLEAN,
    status=STRING,
    validity=STRING,
)
LOYALTY = obj(
    "Loyalty",
    tier=STRING,
    points=INTEGER,
    status=STRING,
    program=STRING,
    joinDate=DATETIME,
    lifetimePoints=INTEGER,
    lifetimePurchases=DOUBLE,
    pointsRedeemed=INTEGER,
    nextTier=STRING,
    pointsToNextTier=INTEGER,
    loyaltyID=ArrayType(STRING),
)
SOURCE_AUDIT = obj(
    "ExternalSourceSystemAudit",
    lastUpdatedDate=DATETIME,
    createdDate=DATETIME,
    lastActivityDate=DATETIME,
)

PROFILE_FIELDS: dict[str, PQLType] = {
    "_id": STRING,
    "personID": STRING,
    "identityMap": IDENTITY_MAP,
    "person": PERSON,
    "homeAddress": POSTAL_ADDRESS,
    "workAddress": POSTAL_ADDRESS,
    "mailingAddress": POSTAL_ADDRESS,
    "personalEmail": EMAIL_ADDRESS,
    "workEmail": EMAIL_ADDRESS,
    "mobilePhone": PHONE_NUMBER,
    "homePhone": PHONE_NUMBER,
    "workPhone": PHONE_NUMBER,
    "loyalty": LOYALTY,
    "extSourceSystemAudit": SOURCE_AUDIT,
    "segmentMembership": SEGMENT_MEMBERSHIP,
}

MEASURE = obj("Measure", id=STRING, value=DOUBLE)
ORDER = obj(
    "Order",
    purchaseID=STRING,
    priceTotal=DOUBLE,
    currencyCode=STRING,
    taxAmount=DOUBLE,
    discountAmount=DOUBLE,
    orderType=STRING,
)
COMMERCE = obj(
    "Commerce",
    order=ORDER,
    purchases=MEASURE,
    checkouts=MEASURE,
    productViews=MEASURE,
    productListAdds=MEASURE,
    productListRemovals=MEASURE,
    productListViews=MEASURE,
    cartAbandons=MEASURE,
)
PRODUCT_LIST_ITEM = obj(
    "ProductListItem",
    SKU=STRING,
    name=STRING,
    quantity=INTEGER,
    priceTotal=DOUBLE,
    currencyCode=STRING,
    productCategories=ArrayType(STRING),
)
WEB = obj(
    "Web",
    webPageDetails=obj(
        "WebPageDetails",
        name=STRING,
        URL=STRING,
        siteSection=STRING,
        isHomePage=BOOLEAN,
        pageViews=MEASURE,
    ),
    webInteraction=obj("WebInteraction", type=STRING, name=STRING, URL=STRING, linkClicks=MEASURE),
    webReferrer=obj("WebReferrer", URL=STRING, type=STRING),
)
DEVICE = obj("Device", type=STRING, manufacturer=STRING, model=STRING)
ENVIRONMENT = obj("Environment", type=STRING, browserDetails=obj("BrowserDetails", name=STRING))

EVENT_FIELDS: dict[str, PQLType] = {
    "_id": STRING,
    "timestamp": DATETIME,
    "eventType": STRING,
    "identityMap": IDENTITY_MAP,
    "commerce": COMMERCE,
    "productListItems": ArrayType(PRODUCT_LIST_ITEM),
    "web": WEB,
    "device": DEVICE,
    "environment": ENVIRONMENT,
}

# The standard eventType values Segmint's generator and docs use (xdm.md §2).
STANDARD_EVENT_TYPES = (
    "web.webpagedetails.pageViews",
    "web.webinteraction.linkClicks",
    "commerce.productViews",
    "commerce.productListAdds",
    "commerce.productListRemovals",
    "commerce.checkouts",
    "commerce.purchases",
    "application.launch",
    "directMarketing.emailOpened",
    "directMarketing.emailClicked",
)
