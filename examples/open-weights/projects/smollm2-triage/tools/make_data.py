"""Generate the support-triage training and test data (reproducible: seeded RNG).

Run from anywhere:  python projects/support-triage/tools/make_data.py
It rewrites data/train.jsonl and data/test.jsonl next to this tools/ directory.

How a ticket is made: an optional greeting, one core issue sentence (sometimes two,
from different categories), an optional priority sentence, an optional sign-off.
Slots ({order}, {product}, ...) are filled from small hand-written lists. A few
tickets get a typo or are typed all in lower case. A hand-written list of hard
cases (mixed issues, "not urgent" wording, urgent phrasing buried at the end) is
added with fixed labels and split between train and test.

The labels follow two rules a reader can check by eye (see README.md):
  category: the first that applies of refund > billing > account > technical > shipping
  priority: urgent if any urgent signal, else high if any high signal,
            else low if any low signal, else normal
Test tickets are rejected when they are near-duplicates of a train ticket
(word 3-gram Jaccard >= 0.5), so the test set measures more than recall.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

SEED = 7
N_TRAIN = 300
N_TEST = 50
SYSTEM_PROMPT = (
    "You are Acme's support triage assistant. "
    'Reply with JSON only: {"category": ..., "priority": ...}.'
)

CATEGORIES = ("refund", "billing", "account", "technical", "shipping")  # precedence order
PRIORITIES = ("low", "normal", "high", "urgent")

# --------------------------------------------------------------------------- slots

NAMES = [
    "Maria",
    "Jonas",
    "Priya",
    "Tomasz",
    "Aiko",
    "Chidi",
    "Lucía",
    "Sven",
    "Fatima",
    "Oliver",
    "Mei",
    "Rafael",
    "Ingrid",
    "Kwame",
    "Élodie",
    "Daniel",
    "Hana",
    "Mateo",
    "Olga",
    "Sam",
    "Noor",
    "Bjorn",
    "Giulia",
    "Ravi",
    "Zanele",
    "Pieter",
    "Yusuf",
    "Camille",
]
PRODUCTS = [
    "Acme Blender Pro",
    "Trailhead 40L backpack",
    "Nimbus wireless earbuds",
    "Aero standing desk",
    "Brewmaster espresso grinder",
    "Halo smart thermostat",
    "Pulse fitness tracker",
    "Summit rain jacket",
    "Lumen desk lamp",
    "Orbit robot vacuum",
    "Cascade water filter",
    'Nova 27" monitor',
]
PLANS = ["Starter", "Pro", "Team", "Business"]
CARRIERS = ["DHL", "UPS", "FedEx", "Royal Mail", "DPD", "PostNL", "Canada Post", "GLS"]
DATES = ["Monday", "March 3", "the 14th", "12/05", "Friday", "May 21", "June 2", "the 30th"]
AMOUNTS = ["$49.99", "$129.00", "€89", "£18.50", "$12.99", "€240", "$599", "£64.20", "$7.99"]
COUNTRIES = ["Norway", "Canada", "Portugal", "Japan", "Ireland", "Mexico", "Poland", "Kenya"]
DEVICES = ["Android", "my iPhone", "the iPad app", "Windows 11", "my Pixel", "macOS Sonoma"]
BROWSERS = ["Firefox", "Safari", "Chrome", "Edge"]


def order_number(rng: random.Random) -> str:
    digits = rng.randint(10000, 99999)
    form = rng.choice(["#{d}", "#AC-{d}", "{d}", "no. {d}", "#{d}"])
    return form.format(d=digits)


def invoice_number(rng: random.Random) -> str:
    return f"INV-2026-{rng.randint(100, 9999):04d}"


def email_address(rng: random.Random) -> str:
    user = rng.choice(["m.lopez", "jonas.k", "priya", "t.nowak", "aiko.s", "chidi88", "office"])
    domain = rng.choice(["gmail.com", "outlook.com", "example.org", "posteo.de", "acme-fan.net"])
    return f"{user}@{domain}"


# --------------------------------------------------------------------------- fragments


@dataclass(frozen=True)
class Core:
    """One hand-written issue sentence: its category and, when the words say so, a priority."""

    category: str
    text: str
    priority: str | None = None


def cores(category: str, texts: list[str], priority: str | None = None) -> list[Core]:
    return [Core(category, t, priority) for t in texts]


CORES: list[Core] = [
    # ---------------------------------------------------------------- refund
    *cores(
        "refund",
        [
            "I'd like a refund for the {product}, it stopped working after a week.",
            "Please refund order {order}, I cancelled it within the 14-day window.",
            "I returned the {product} on {date} and I still haven't got my money back.",
            "How long does a refund take to show up on my card? Your warehouse accepted the return.",
            "The {product} arrived damaged and I want my money back, not a replacement.",
            "Can I get a refund for the unused months of our annual {plan} plan? We're closing the project.",
            "I sent back the {product} but the refund was only {amount}, not the full price I paid.",
            "Requesting a refund for yesterday's renewal, I forgot to cancel the subscription in time.",
            "I want to return the {product} for a full refund, it's the wrong size.",
            "Reembolso por favor: order {order} looks nothing like the photos on the website.",
            "The agent on the phone promised me a refund of {amount} on {date} and nothing has arrived.",
            "Where is my refund for order {order}? You confirmed you received the return.",
            "My refund was sent to an old card that is closed now, how do I get the money?",
            "Is the {product} eligible for a refund if I already opened the box?",
            "i want my money back for the {product}, it does not do what the ad says",
            "Could you reverse the payment for order {order}? I'd like to return everything.",
            "Please process the refund for RMA {order}, the courier picked the item up {date}.",
            "Got a partial refund for order {order} but the shipping fee wasn't refunded.",
            "I'm not happy with the {product} and would like to send it back for a refund.",
            "Your returns page says refunds take 5 days, it has been 12. Order {order}.",
        ],
    ),
    *cores(
        "refund",
        [
            "I was charged twice for order {order} and I want the duplicate refunded right now!",
            "Refund the double charge of {amount} immediately, my rent payment bounced because of it.",
        ],
        "urgent",
    ),
    # ---------------------------------------------------------------- billing
    *cores(
        "billing",
        [
            "My card was declined when I tried to renew the {plan} plan, but my bank says everything is fine.",
            "Can you send me a proper invoice for order {order}? I need your VAT number on it.",
            "Invoice {invoice} says {amount} but the {plan} plan is supposed to be cheaper than that.",
            "How do I change the credit card on file for our subscription?",
            "I was billed for the annual plan although I picked monthly at checkout.",
            "There's a {amount} charge from ACME*DIGITAL on my statement that I don't recognise.",
            "We need to update the billing address on the account, the company moved offices.",
            "The receipt for my last payment never arrived, could you resend it?",
            "Our team went from 12 seats to 8 but the invoice still bills us for 12.",
            "Can we pay by bank transfer instead of card? Our finance team doesn't use cards.",
            "The coupon SPRING20 didn't apply at checkout, can you correct the invoice for order {order}?",
            "Sales tax was added to invoice {invoice} even though we're tax-exempt.",
            "Does the {plan} plan get billed per user or per workspace?",
            "My payment failed and now there is a banner saying the subscription is past due.",
            "PayPal shows the payment for order {order} as pending, was I actually charged?",
            "Bitte: I need the Rechnung for {date} in EUR, not USD.",
            "Why did my monthly price go up to {amount}? Nobody told me about a price change.",
            "please add our PO number 4471-B to the next invoice, accounting insists",
            "Can I switch from the {plan} plan to a cheaper one before the next billing date?",
        ],
    ),
    *cores(
        "billing",
        [
            "I was charged twice for order {order}, two identical payments of {amount}.",
            "You double charged my card this month, {amount} taken two times.",
            "There are duplicate charges on our company card for the same invoice {invoice}.",
            "Your system billed us three times for one subscription and our account is now overdrawn.",
            "Charged twice again?! Two payments of {amount} on {date} for a single order.",
        ],
        "urgent",
    ),
    # ---------------------------------------------------------------- account
    *cores(
        "account",
        [
            "I can't log in, the password reset email never arrives.",
            "How do I change the email address on my account to {email}?",
            "My two-factor codes stopped working after I switched to a new phone.",
            "Please delete my account and all the personal data you hold about me.",
            "The login page says my account is locked after too many attempts.",
            "How do I add a colleague as an admin on our team account?",
            "I signed up twice with different emails by accident, can you merge the two accounts?",
            "I forgot my username, I only remember the email I used ({email}).",
            "The verification email never came after I signed up.",
            "Where do I turn on 2FA for my account?",
            "Please transfer ownership of the workspace to {name2}, I'm leaving the company.",
            "My profile still shows my old last name and the field is greyed out in settings.",
            "The password reset link says it has expired even though I clicked it right away.",
            "Can I log in with Google instead of a password?",
            "cant sign in to my account, it keeps saying wrong password but i just reset it",
            "How do I remove a former employee's access to our account?",
            "I'd like to change the phone number used for login codes.",
            "Mi cuenta: I want to update the account holder name after getting married.",
        ],
    ),
    *cores(
        "account",
        [
            "Someone hacked my account and changed the password, there are orders I didn't make!",
            "I got a login alert from another country, I think my account has been compromised.",
            "Unauthorized access to our admin account, please lock it now.",
            "My account was hacked and the email was changed to one I don't own.",
        ],
        "urgent",
    ),
    # ---------------------------------------------------------------- technical
    *cores(
        "technical",
        [
            "The app crashes every time I open the settings screen on {device}.",
            "I get an error 500 when I upload a CSV bigger than 10 MB.",
            "The {product} won't connect to wifi since the latest firmware update.",
            "The export to PDF button does nothing in {browser}.",
            "Sync between the desktop and the mobile app is stuck at 80%.",
            "Our API calls return 429 rate limit errors although we're far below the quota.",
            "The dashboard charts keep loading forever since this morning.",
            "Push notifications stopped working on {device} after the update.",
            "The {product} keeps disconnecting from bluetooth every few minutes.",
            "Webhook deliveries to our endpoint are failing with a timeout error.",
            "The {product} app shows a blank white screen on {device}.",
            "Images don't load on the product pages in {browser}, just broken icons.",
            "The firmware update for the {product} fails at 63% with error E-17.",
            "The search bar in the app returns no results no matter what I type.",
            "The integration with Slack stopped posting messages, no error shown.",
            "the {product} display flickers and then the app freezes, tried reinstalling already",
            "When I click save in the editor I get 'something went wrong' and lose my changes.",
            "Our SSO setup throws an invalid SAML response error for some users.",
            "El {product} no enciende after the update, the LED just blinks red.",
        ],
    ),
    *cores(
        "technical",
        [
            "Your site is down for all our customers, nobody can check out!",
            "Complete outage: the API returns 503 for every single request.",
            "The checkout page is broken for everyone and we are losing sales every minute.",
            "Production is down, all of our stores show a blank page.",
            "Nobody on our team can reach the app, it is down for all users.",
        ],
        "urgent",
    ),
    # ---------------------------------------------------------------- shipping
    *cores(
        "shipping",
        [
            "Where is my order {order}? The tracking hasn't moved since {date}.",
            "The courier says delivered but there's no package at my door.",
            "Can I change the delivery address for order {order}? I'm moving next week.",
            "My parcel is stuck in customs, do I have to pay import fees?",
            "Do you ship to {country}? I can't pick it as a delivery country.",
            "The {carrier} tracking number for order {order} still says 'label created'.",
            "Only part of my order arrived, the {product} is missing from the box.",
            "Can I upgrade order {order} to express shipping?",
            "The delivery driver left my package at the wrong house.",
            "How long does standard shipping to {country} usually take?",
            "My pedido {order} was supposed to arrive {date}, still nothing.",
            "{carrier} returned my parcel to your warehouse, can you ship it again?",
            "The box arrived but it was the wrong item, I got a {product} I never ordered.",
            "Is it possible to pick up order {order} at a parcel locker instead of home delivery?",
            "tracking link for {order} gives 'not found' on the {carrier} site",
            "Could you hold my shipment until after {date}? Nobody will be home.",
            "The estimated delivery for the {product} keeps moving back every day.",
            "Can you split the shipment so the {product} ships now and the rest later?",
        ],
    ),
]

GREETINGS = [
    "Hi,",
    "Hello,",
    "Hi there,",
    "Hey,",
    "Good morning,",
    "Dear Acme team,",
    "Hello support,",
    "Hola,",
    "Hallo,",
    "Bonjour,",
    "Hej,",
    "Ciao,",
    "To whom it may concern,",
    "Hi Acme,",
]
SIGNOFFS = [
    "Thanks, {name}",
    "Thank you! {name}",
    "Best, {name}",
    "Cheers, {name}",
    "- {name}",
    "Gracias, {name}",
    "Danke, {name}",
    "Merci, {name}",
    "Obrigado. {name}",
    "Regards, {name}",
    "Thx",
    "Thanks in advance.",
    "Kind regards, {name} ({email})",
    "Grazie mille, {name}",
]

# Sentences whose words set the priority, whatever the category.
PRIORITY_SENTENCES: dict[str, list[str]] = {
    "urgent": [
        "This is urgent!!",
        "URGENT, please escalate.",
        "Please treat this as an emergency.",
        "Urgent - I need someone on this now.",
        "Marking this urgent, please call me back today.",
    ],
    "high": [
        "This is the third time I'm writing about this.",
        "I've been waiting over a week and nobody has answered.",
        "I need this sorted by tomorrow, it's for a client deadline.",
        "Honestly, this is unacceptable.",
        "Please help asap, I'm getting really frustrated.",
        "Still not resolved after two emails.",
        "Very disappointed, I need an answer today.",
        "My manager is asking me about this every hour.",
    ],
    "low": [
        "No rush at all.",
        "Whenever you get a chance.",
        "Just curious, not a big deal.",
        "Not urgent, just wanted to flag it.",
        "Low priority, take your time.",
        "Not in a hurry, next week is fine.",
        "Just a small thing, no rush.",
    ],
}
NEUTRAL_SENTENCES = [
    "Let me know if you need anything else from me.",
    "I attached a screenshot.",
    "Thanks for your help.",
    "Happy to provide more details.",
    "Looking forward to your reply.",
]
CONNECTORS = ["Also, ", "On top of that, ", "And one more thing: ", "Separately, ", "PS: "]

# Words typos must not touch: they carry the label, and the labels must stay checkable.
PROTECTED = re.compile(
    r"refund|money|charg|twice|double|duplicate|invoice|bill|payment|price|plan|card|"
    r"log|password|account|2fa|two-factor|hack|compromis|access|email|"
    r"crash|error|down|outage|app|broken|bug|"
    r"ship|deliver|track|parcel|package|courier|custom|"
    r"urgent|emergency|rush|hurry|asap|third|week|priority|unacceptable|deadline",
    re.IGNORECASE,
)

# Hand-written hard cases with fixed labels: mixed issues decided by the precedence
# rule, "not urgent" wording, urgent signals hidden after small talk.
HARD_CASES: list[tuple[str, str, str]] = [
    (
        "I want a refund for my subscription, but I can't even log in to cancel it.",
        "refund",
        "normal",
    ),
    (
        "Can't log into my account to download invoices, and I need a refund for last month's renewal.",
        "refund",
        "normal",
    ),
    ("No rush, but I noticed I was charged twice for order #55120.", "billing", "urgent"),
    (
        "Not urgent: there's a typo on the tracking page of your website, it says 'shiped'.",
        "technical",
        "low",
    ),
    (
        "Your site is down for all customers and my refund request is stuck in it. Help!",
        "refund",
        "urgent",
    ),
    (
        "The password reset page throws error 404, so I can't get into my account.",
        "account",
        "normal",
    ),
    (
        "The tracking page crashes in Safari whenever I enter my order number.",
        "technical",
        "normal",
    ),
    (
        "Hi! Love the new backpack. Small thing: the invoice has my old address on it. No rush.",
        "billing",
        "low",
    ),
    (
        "Parcel arrived late and the box was crushed; the blender inside is broken, I want my money back.",
        "refund",
        "normal",
    ),
    (
        "Package never arrived and I was charged twice for it. This is the third time I'm writing.",
        "billing",
        "urgent",
    ),
    (
        "Someone logged into my account from abroad and ordered 3 monitors on my card!",
        "account",
        "urgent",
    ),
    (
        "The app crashes when I open my invoices tab. Not a big deal, I can use the website.",
        "technical",
        "low",
    ),
    (
        "My 2FA codes don't work and the app crashes on login. Third email about this!",
        "account",
        "high",
    ),
    (
        "Hello, quick one: will the refund go back to PayPal or to my card? Just curious.",
        "refund",
        "low",
    ),
    (
        "hey so the courier lost my parcel AND the app keeps crashing when i check tracking. ugh",
        "technical",
        "normal",
    ),
    (
        "We were billed for 20 seats but only 5 people can log in, the rest get 'account locked'.",
        "billing",
        "normal",
    ),
    (
        "Checkout is down for all our customers since 9am, we're losing sales. Also my invoice is wrong.",
        "billing",
        "urgent",
    ),
    (
        "I don't need a refund, I just want the missing charger shipped please.",
        "shipping",
        "normal",
    ),
    (
        "No refund needed, but why was my card charged before the order shipped?",
        "billing",
        "normal",
    ),
    (
        "Delivery was fine, thanks! But the thermostat app keeps losing wifi. Whenever you get a chance.",
        "technical",
        "low",
    ),
    (
        "Could you delete my account? Also, please refund the last payment of $12.99.",
        "refund",
        "normal",
    ),
    (
        "Our whole store has been offline since the update, all customers see an error. URGENT.",
        "technical",
        "urgent",
    ),
    (
        "Account got hacked, they changed my shipping address and placed an order.",
        "account",
        "urgent",
    ),
    ("I need the duplicate charge refunded, you took $49.99 twice.", "refund", "urgent"),
]


# --------------------------------------------------------------------------- composing


def fill(text: str, rng: random.Random, name: str) -> str:
    slots = {
        "order": lambda: order_number(rng),
        "invoice": lambda: invoice_number(rng),
        "product": lambda: rng.choice(PRODUCTS),
        "plan": lambda: rng.choice(PLANS),
        "carrier": lambda: rng.choice(CARRIERS),
        "date": lambda: rng.choice(DATES),
        "amount": lambda: rng.choice(AMOUNTS),
        "country": lambda: rng.choice(COUNTRIES),
        "device": lambda: rng.choice(DEVICES),
        "browser": lambda: rng.choice(BROWSERS),
        "email": lambda: email_address(rng),
        "name": lambda: name,
        "name2": lambda: rng.choice([n for n in NAMES if n != name]),
    }
    return re.sub(r"\{(\w+)\}", lambda m: slots[m.group(1)](), text)


def add_typo(text: str, rng: random.Random) -> str:
    """Swap two letters of one unprotected word, the way fast typists do."""
    words = text.split(" ")
    candidates = [
        i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and not PROTECTED.search(w)
    ]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def decide_category(categories: list[str]) -> str:
    return min(categories, key=CATEGORIES.index)


def decide_priority(signals: list[str]) -> str:
    for level in ("urgent", "high", "low"):
        if level in signals:
            return level
    return "normal"


def make_ticket(rng: random.Random, category: str) -> tuple[str, str, str]:
    name = rng.choice(NAMES)
    first = rng.choice([c for c in CORES if c.category == category])
    chosen = [first]
    if rng.random() < 0.15:
        # A second issue of a lower-precedence category: the rule, not the order, decides.
        lower = CATEGORIES[CATEGORIES.index(category) + 1 :]
        others = [c for c in CORES if c.category in lower and c.priority is None]
        if others:
            chosen.append(rng.choice(others))
            if rng.random() < 0.5:
                chosen.reverse()

    levels, weights = ["normal", "high", "low", "urgent"], [50, 25, 17, 8]
    if first.priority == "urgent":  # "no rush" next to "hacked" reads oddly; hard cases cover it
        levels, weights = ["normal", "high"], [80, 20]
    wanted = rng.choices(levels, weights=weights)[0]
    sentences = [fill(c.text, rng, name) for c in chosen]
    if len(sentences) == 2:
        second = sentences[1]
        if second[1:2].islower():  # keep "I ..." and "GLS ..." as they are
            second = second[0].lower() + second[1:]
        sentences[1] = rng.choice(CONNECTORS) + second
    signals = [c.priority for c in chosen if c.priority]
    if wanted != "normal":
        extra = rng.choice(PRIORITY_SENTENCES[wanted])
        if wanted == "low" or rng.random() < 0.5:  # "no rush" reads best as an afterthought
            sentences.append(extra)
        else:
            sentences.insert(0, extra)
        signals.append(wanted)
    elif rng.random() < 0.3:
        sentences.append(rng.choice(NEUTRAL_SENTENCES))

    # Sloppy sentences end without a full stop; one is needed before the next sentence.
    sentences = [
        s if s[-1] in ".!?" or i == len(sentences) - 1 else s + "." for i, s in enumerate(sentences)
    ]
    text = " ".join(sentences)
    if rng.random() < 0.55:
        joiner = rng.choice([" ", "\n"])
        if joiner == " " and text[1:2].islower():  # "Hi, is it..." rather than "Hi, Is it..."
            text = text[0].lower() + text[1:]
        text = rng.choice(GREETINGS) + joiner + text
    if rng.random() < 0.5:
        joiner = rng.choice([" ", "\n"]) if text[-1] in ".!?" else "\n"
        text += joiner + fill(rng.choice(SIGNOFFS), rng, name)
    if rng.random() < 0.2:
        text = add_typo(text, rng)
    if rng.random() < 0.08:
        text = text.lower()
    return (
        text,
        decide_category([c.category for c in chosen]),
        decide_priority(signals),
    )


# --------------------------------------------------------------------------- near-duplicates


def shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def too_close(
    candidate: set[tuple[str, ...]], pool: list[set[tuple[str, ...]]], limit: float
) -> bool:
    return any(jaccard(candidate, other) >= limit for other in pool)


# --------------------------------------------------------------------------- output


def example(ticket: str, category: str, priority: str) -> dict[str, object]:
    answer = json.dumps({"category": category, "priority": priority}, ensure_ascii=False)
    return {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": ticket},
            {"role": "assistant", "content": answer},
        ]
    }


def fill_up(
    rng: random.Random,
    tickets: list[tuple[str, str, str]],
    count: int,
    others: list[set[tuple[str, ...]]],
) -> list[set[tuple[str, ...]]]:
    """Add generated tickets (categories in turn) until there are `count`, rejecting any
    within Jaccard 0.7 of a ticket in `tickets` or 0.5 of one in `others` (by shingles).
    Returns the shingles of every ticket in `tickets`."""
    own = [shingles(t) for t, _, _ in tickets]
    turn = 0
    while len(tickets) < count:
        category = CATEGORIES[turn % len(CATEGORIES)]
        ticket = make_ticket(rng, category)
        sh = shingles(ticket[0])
        if too_close(sh, others, 0.5) or too_close(sh, own, 0.7):
            continue
        tickets.append(ticket)
        own.append(sh)
        turn += 1
    return own


def build(rng: random.Random) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    train = [h for i, h in enumerate(HARD_CASES) if i % 3 != 2]
    test = [h for i, h in enumerate(HARD_CASES) if i % 3 == 2]
    train_shingles = fill_up(rng, train, N_TRAIN, [])
    fill_up(rng, test, N_TEST, train_shingles)

    rng.shuffle(train)
    rng.shuffle(test)
    return [example(*t) for t in train], [example(*t) for t in test]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    project = Path(__file__).resolve().parent.parent
    train, test = build(random.Random(SEED))
    write_jsonl(project / "data" / "train.jsonl", train)
    write_jsonl(project / "data" / "test.jsonl", test)
    print(f"wrote {len(train)} train and {len(test)} test examples to {project / 'data'}")


if __name__ == "__main__":
    main()
