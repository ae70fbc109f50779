"""Static facts the demo world is built from: countries, currencies, merchant types, names.

Plain data only, so the generator, the embedding and the tests share one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166 alpha-2
    weight: float  # share of account holders living there
    currency: str  # ISO 4217
    utc_offset: float  # hours; fixed offsets are close enough for a daily rhythm
    eur_rate: float  # units of `currency` per euro, to put amounts on one scale


# fmt: off
COUNTRIES: tuple[Country, ...] = (
    Country("US", 14.0, "USD", -5, 1.08),
    Country("GB", 9.0, "GBP", 0, 0.86),
    Country("DE", 9.0, "EUR", 1, 1.0),
    Country("FR", 7.0, "EUR", 1, 1.0),
    Country("ES", 5.0, "EUR", 1, 1.0),
    Country("IT", 5.0, "EUR", 1, 1.0),
    Country("NL", 4.0, "EUR", 1, 1.0),
    Country("PL", 3.0, "PLN", 1, 4.3),
    Country("CA", 3.0, "CAD", -5, 1.47),
    Country("BR", 3.0, "BRL", -3, 5.4),
    Country("IN", 3.0, "INR", 5.5, 90.0),
    Country("IE", 2.0, "EUR", 0, 1.0),
    Country("BE", 2.0, "EUR", 1, 1.0),
    Country("MX", 2.0, "MXN", -6, 18.5),
    Country("JP", 2.0, "JPY", 9, 160.0),
    Country("AU", 2.0, "AUD", 10, 1.65),
    Country("AT", 1.5, "EUR", 1, 1.0),
    Country("PT", 1.5, "EUR", 0, 1.0),
    Country("SE", 1.5, "SEK", 1, 11.5),
    Country("CH", 1.2, "CHF", 1, 0.95),
    Country("CZ", 1.2, "CZK", 1, 25.0),
    Country("RO", 1.2, "RON", 2, 5.0),
    Country("TR", 1.2, "TRY", 3, 35.0),
    Country("FI", 1.0, "EUR", 2, 1.0),
    Country("GR", 1.0, "EUR", 2, 1.0),
    Country("NO", 1.0, "NOK", 1, 11.6),
    Country("DK", 1.0, "DKK", 1, 7.46),
    Country("SG", 1.0, "SGD", 8, 1.45),
    Country("HK", 1.0, "HKD", 8, 8.4),
    Country("KR", 1.0, "KRW", 9, 1450.0),
    Country("ZA", 1.0, "ZAR", 2, 20.0),
    Country("HU", 0.8, "HUF", 1, 390.0),
    Country("AE", 0.8, "AED", 4, 3.97),
    Country("NG", 0.8, "NGN", 1, 1600.0),
    Country("ID", 0.8, "IDR", 7, 17000.0),
    Country("PH", 0.8, "PHP", 8, 62.0),
    Country("NZ", 0.6, "NZD", 12, 1.8),
    Country("VN", 0.5, "VND", 7, 27000.0),
    Country("RU", 0.5, "RUB", 3, 100.0),
)
# fmt: on
COUNTRY_BY_CODE = {country.code: country for country in COUNTRIES}
EUR_RATES = {country.currency: country.eur_rate for country in COUNTRIES}

# fmt: off
# Where account takeovers tend to be operated from (attacker side, weights).
TAKEOVER_COUNTRIES = {"NG": 3.0, "RO": 2.0, "BR": 2.0, "RU": 2.0, "VN": 1.5, "TR": 1.5,
                      "IN": 1.5, "ID": 1.0, "PH": 1.0, "NL": 1.5, "US": 1.0}
# Holiday and business destinations for legitimate travel spending.
TRAVEL_COUNTRIES = {"ES": 3.0, "FR": 3.0, "IT": 3.0, "US": 3.0, "GB": 2.0, "PT": 2.0,
                    "GR": 2.0, "DE": 1.5, "NL": 1.5, "TR": 1.5, "AE": 1.0, "JP": 1.0,
                    "MX": 1.0, "SG": 1.0, "AT": 1.0, "CH": 1.0}

# Share of a day's transactions per local hour: quiet at night, peaks at lunch and evening.
HOURLY_RHYTHM = (0.6, 0.35, 0.2, 0.15, 0.15, 0.3, 0.8, 1.6, 2.2, 2.4, 2.6, 3.2,
                 4.2, 3.6, 2.8, 2.6, 2.8, 3.4, 4.0, 4.1, 3.4, 2.4, 1.6, 1.0)

# fmt: on
CHANNELS = ("card_present", "contactless", "ecommerce", "transfer", "atm")


@dataclass(frozen=True)
class MerchantType:
    key: str
    mcc: str
    weight: float  # share of merchants of this type
    spend: float  # share of everyday spending that goes to this type
    median_eur: float  # log-normal amount median
    sigma: float  # log-normal amount spread
    channels: dict[str, float]
    nouns: tuple[str, ...]


# fmt: off
MERCHANT_TYPES: tuple[MerchantType, ...] = (
    MerchantType("grocery", "5411", 14, 22, 38, 0.7,
                 {"card_present": 0.55, "contactless": 0.4, "ecommerce": 0.05},
                 ("Grocers", "Market", "Foods", "Fresh Market", "Supermarket", "Provisions")),
    MerchantType("restaurant", "5812", 14, 12, 32, 0.6,
                 {"card_present": 0.4, "contactless": 0.5, "ecommerce": 0.1},
                 ("Kitchen", "Bistro", "Grill", "Trattoria", "Brasserie", "Diner", "Tavern")),
    MerchantType("fast_food", "5814", 8, 10, 11, 0.5,
                 {"card_present": 0.3, "contactless": 0.6, "ecommerce": 0.1},
                 ("Burgers", "Noodle Bar", "Coffee", "Bakery", "Pizza", "Deli")),
    MerchantType("fuel", "5541", 5, 6, 55, 0.4,
                 {"card_present": 0.5, "contactless": 0.5},
                 ("Fuel", "Service Station", "Petrol", "Gas & Go")),
    MerchantType("pharmacy", "5912", 4, 4, 18, 0.6,
                 {"card_present": 0.5, "contactless": 0.4, "ecommerce": 0.1},
                 ("Pharmacy", "Chemists", "Apothecary")),
    MerchantType("clothing", "5651", 7, 6, 65, 0.7,
                 {"card_present": 0.4, "contactless": 0.2, "ecommerce": 0.4},
                 ("Outfitters", "Apparel", "Boutique", "Clothing Co", "Wear")),
    MerchantType("electronics", "5732", 5, 3, 190, 1.0,
                 {"card_present": 0.3, "contactless": 0.1, "ecommerce": 0.6},
                 ("Electronics", "Digital", "Tech Store", "Gadgets", "Computers")),
    MerchantType("digital_goods", "5815", 5, 5, 12, 0.5,
                 {"ecommerce": 1.0},
                 ("Streaming", "Media", "Games", "Apps", "Music")),
    MerchantType("telecom", "4814", 2, 2, 30, 0.5,
                 {"ecommerce": 0.8, "card_present": 0.2},
                 ("Mobile", "Telecom", "Connect")),
    MerchantType("taxi", "4121", 3, 4, 19, 0.6,
                 {"ecommerce": 0.7, "contactless": 0.3},
                 ("Cabs", "Rides", "Taxi", "Cars")),
    MerchantType("airline", "4511", 2, 1, 320, 0.7,
                 {"ecommerce": 0.95, "card_present": 0.05},
                 ("Airways", "Air", "Airlines")),
    MerchantType("hotel", "7011", 3, 1.5, 180, 0.6,
                 {"ecommerce": 0.6, "card_present": 0.4},
                 ("Hotel", "Inn", "Suites", "Lodge")),
    MerchantType("gift_cards", "5947", 3, 1, 50, 0.8,
                 {"ecommerce": 0.7, "card_present": 0.3},
                 ("Gift Cards", "Gifts", "Giftshop", "Voucher Store")),
    MerchantType("misc_retail", "5999", 6, 4, 40, 0.9,
                 {"card_present": 0.4, "contactless": 0.2, "ecommerce": 0.4},
                 ("Supplies", "General Store", "Trading", "Goods")),
    MerchantType("gambling", "7995", 2, 1, 45, 1.1,
                 {"ecommerce": 0.9, "card_present": 0.1},
                 ("Casino", "Bet", "Poker", "Lottery")),
    MerchantType("crypto", "6051", 1, 0.5, 300, 1.0,
                 {"ecommerce": 1.0},
                 ("Crypto Exchange", "Coin", "Bitmarket")),
    MerchantType("money_transfer", "4829", 3, 3, 250, 1.0,
                 {"transfer": 1.0},
                 ("Money Transfer", "Remit", "Pay", "Transfers")),
    MerchantType("atm", "6011", 5, 5, 100, 0.6,
                 {"atm": 1.0},
                 ("Bank ATM", "Savings Bank ATM", "Credit Union ATM")),
)
# fmt: on
MERCHANT_TYPE_BY_KEY = {merchant_type.key: merchant_type for merchant_type in MERCHANT_TYPES}

# fmt: off
NAME_ADJECTIVES = (
    "Blue", "Silver", "Golden", "Red", "Green", "Northern", "Little", "Grand", "Royal", "Bright",
    "Wild", "Old", "New", "Urban", "Coastal", "Sunny", "Swift", "Prime", "Clever", "Quiet",
    "Western", "Eastern", "Happy", "Iron", "Copper",
)
NAME_NOUNS = (
    "Harbor", "Oak", "Maple", "Field", "Valley", "Bridge", "River", "Lake", "Hill", "Garden",
    "Lantern", "Anchor", "Fox", "Owl", "Wolf", "Bear", "Pine", "Cedar", "Stone", "Meadow",
    "Kettle", "Falcon", "Willow", "Orchard", "Crown",
)
NAME_SINGLES = (
    "Northwind", "Evergreen", "Riverside", "Lakeside", "Summit", "Pioneer", "Kingsway",
    "Westgate", "Eastwood", "Sunrise", "Seaside", "Highland", "Ironwood", "Amber", "Crescent",
    "Beacon", "Aurora", "Atlas", "Nova", "Vertex", "Quantum", "Pixel", "Metro", "Parkside",
    "Hilltop", "Bayview", "Sterling", "Lumen", "Harvest", "Fox & Hound", "O'Brien's",
    "Café Lumière", "Müller & Söhne", "Corner", "Village", "Harborview", "Brightwater",
)
# fmt: on
