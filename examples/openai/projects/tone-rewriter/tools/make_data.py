"""Generate the tone-rewriter DPO data (reproducible: seeded RNG).

Run from anywhere:  python examples/openai/projects/tone-rewriter/tools/make_data.py
It rewrites data/train.jsonl and data/test.jsonl next to this tools/ directory.

Each example pairs a support agent's curt draft (and the customer message it answers)
with two rewrites: the preferred one is warm and concise and keeps every fact; the
non-preferred one buries the same fact under apologies and filler. Scenarios are
hand-written; each is used twice with different names, order numbers and dates.
The last scenarios are held out as the test set, so no test prompt is a near-copy of
a training prompt.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 11
N_TEST_SCENARIOS = 5
SYSTEM_PROMPT = (
    "Rewrite the agent's draft reply to the customer: warm, concise, same facts, no new promises."
)

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
    "Noor",
    "Giulia",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
PRODUCTS = [
    "Nimbus earbuds",
    "Aero standing desk",
    "Halo thermostat",
    "Lumen desk lamp",
    "Orbit robot vacuum",
    "Summit rain jacket",
    "Brewmaster grinder",
    "Pulse tracker",
]
AMOUNTS = ["$24.99", "$49.00", "€35", "£18.50", "$129.00", "€12.90"]

# (customer message, curt draft, warm concise rewrite, the bare fact for the verbose rewrite)
SCENARIOS: list[tuple[str, str, str, str]] = [
    (
        "Hi, where is my order {order}? It's been a week.",
        "Order ships {day}. Tracking comes by email.",
        "Thanks for checking in, {name}! Order {order} ships on {day}, and we'll email you the tracking link as soon as it's on its way.",
        "your order {order} is scheduled to ship on {day} and the tracking link will be sent by email",
    ),
    (
        "I was charged twice for order {order}!",
        "Duplicate charge refunded. 3-5 days.",
        "Sorry about that double charge, {name}. We've refunded the duplicate payment for order {order}; it should be back on your card within 3-5 business days.",
        "the duplicate charge for order {order} has been refunded and should appear within 3-5 business days",
    ),
    (
        "I can't log in, the reset email never comes.",
        "Check spam. Resent.",
        "Hi {name}, I've just sent a fresh reset link. If it isn't in your inbox in a few minutes, please check your spam folder.",
        "a new password reset email has been sent and it may be in your spam folder",
    ),
    (
        "Can I change the delivery address for order {order}?",
        "Too late. Already shipped.",
        "I'm sorry, {name}: order {order} has already left our warehouse, so we can't change the address now. Once you have the tracking link, the carrier can usually redirect it for you.",
        "order {order} has already shipped so the address cannot be changed by us and the carrier may be able to redirect it",
    ),
    (
        "The {product} I got is broken out of the box.",
        "Send photo. We replace.",
        "That's not the first impression we wanted, {name}. Could you send us a photo of the damage? As soon as we have it, we'll ship a replacement {product}.",
        "once we receive a photo of the damage we will send a replacement {product}",
    ),
    (
        "Why did my subscription price go up?",
        "Price change was announced. New price applies.",
        "Good question, {name}. Our prices changed this month (we emailed about it in advance), so your plan now renews at the new rate. If it no longer fits, I'm happy to help you pick a different plan.",
        "the price change was announced in advance and the new rate now applies to your plan, and a different plan is an option",
    ),
    (
        "Do you ship to Norway?",
        "No.",
        "Thanks for asking, {name}! We don't ship to Norway yet, but we're adding countries regularly and will announce it on our site when we do.",
        "we do not currently ship to Norway",
    ),
    (
        "My refund for order {order} still hasn't arrived.",
        "Refund sent {day}. Bank delay.",
        "Thanks for your patience, {name}. We sent the refund for order {order} on {day}; banks can take a few days to show it, so it should appear very soon.",
        "the refund for order {order} was sent on {day} and the bank may take a few days to show it",
    ),
    (
        "The app keeps crashing when I open settings.",
        "Known bug. Fix next week.",
        "Thanks for flagging this, {name}. It's a known bug in the settings screen and the fix is coming in next week's update. Until then, the web app works normally.",
        "this is a known bug and a fix will be released next week",
    ),
    (
        "Can I get an invoice with my company's VAT number?",
        "Add VAT in account settings. Redownload.",
        "Of course, {name}! Add your VAT number under Account > Billing, then download the invoice again and it will show up there.",
        "you can add the VAT number in account settings and download the invoice again",
    ),
    (
        "I want to cancel my subscription.",
        "Cancel in settings.",
        "Sorry to see you go, {name}. You can cancel any time under Account > Subscription, and your plan stays active until the end of the current period.",
        "you can cancel the subscription in your account settings",
    ),
    (
        "The tracking for order {order} hasn't updated in 5 days.",
        "Carrier delay. Wait.",
        "I understand the wait is frustrating, {name}. The carrier has a backlog in your area, so order {order} is delayed but still on its way. We'll keep an eye on it and let you know if it stalls.",
        "there is a delay at the carrier and order {order} is still on its way",
    ),
    (
        "You sent me the wrong size of the {product}.",
        "Return label attached. Correct size ships on receipt.",
        "Sorry for the mix-up, {name}! I've attached a prepaid return label; as soon as the {product} is back with us, we'll send the right size.",
        "a return label is attached and the correct size will ship once the {product} is received",
    ),
    (
        "Is the {product} back in stock?",
        "Not yet. Maybe next month.",
        "Not yet, {name}, but we're expecting the {product} back next month. Want me to add you to the restock alert?",
        "the {product} is not in stock and may return next month",
    ),
    (
        "My discount code didn't work on order {order}.",
        "Code expired.",
        "Thanks for letting us know, {name}. That code expired before order {order} was placed, which is why it didn't apply. Keep an eye on your inbox for our next offer!",
        "the discount code had expired before order {order} was placed",
    ),
    (
        "Someone logged into my account from another country!",
        "Account locked. Reset password.",
        "Thanks for acting fast, {name}. We've locked your account to keep it safe; please reset your password with the link we just emailed, and turn on two-factor login once you're back in.",
        "the account has been locked and you need to reset your password",
    ),
    (
        "I returned the {product} two weeks ago. Where's my money?",
        "Return not received yet.",
        "Thanks for checking, {name}. We haven't received the {product} yet; if you send me the return tracking number, I'll look into where it is.",
        "the returned {product} has not been received yet and a tracking number would help",
    ),
    (
        "Can I pay by bank transfer?",
        "Only for annual plans.",
        "Yes, {name}, bank transfer is available for annual plans. Let me know if you'd like to switch and I'll send the details.",
        "bank transfer is only available for annual plans",
    ),
    (
        "The {product} won't connect to wifi after the update.",
        "Factory reset. Then reconnect.",
        "Sorry for the trouble, {name}! A factory reset usually fixes this: hold the button for 10 seconds, then connect the {product} to your wifi again. Let me know if it still won't connect.",
        "please perform a factory reset of the {product} and then reconnect it to wifi",
    ),
    (
        "Part of order {order} is missing.",
        "Ships separately. Arrives {day}.",
        "Good news, {name}: nothing's lost! The rest of order {order} ships separately and should arrive on {day}.",
        "the rest of order {order} is shipping separately and will arrive on {day}",
    ),
    (
        "How do I add a colleague to our team account?",
        "Settings > Team > Invite.",
        "Happy to help, {name}! Go to Settings > Team and click Invite; your colleague will get an email to join.",
        "colleagues can be invited from Settings > Team > Invite",
    ),
    (
        "Why was my card declined?",
        "Bank declined. Call them.",
        "Sorry for the hassle, {name}. The decline came from your bank, so they're the best people to ask; once they've cleared it, the payment will go through on a retry.",
        "the decline came from your bank and you should contact them",
    ),
    (
        "I need order {order} by {day}, can you rush it?",
        "Express costs {amount}. Reply to confirm.",
        "We can, {name}! Express shipping for order {order} costs {amount} and gets it to you by {day}. Just reply to confirm and we'll upgrade it.",
        "express shipping costs {amount} and you need to reply to confirm",
    ),
    (
        "Your website is down!",
        "Fixed now.",
        "Thanks for the heads-up, {name}! The outage is fixed and the site is back up. Sorry for the interruption.",
        "the website outage has been fixed",
    ),
    (
        "Please delete my account.",
        "Deleted. Data gone in 30 days.",
        "Done, {name}. Your account is deleted, and all your data will be erased from our systems within 30 days.",
        "the account has been deleted and the data will be removed within 30 days",
    ),
    (
        "The invoice shows the wrong company name.",
        "Fixed. New invoice attached.",
        "Thanks for catching that, {name}! I've corrected the company name; the updated invoice is attached.",
        "the company name has been corrected and a new invoice is attached",
    ),
    (
        "Can I return the {product} after 30 days?",
        "No. 30-day limit.",
        "I'm sorry, {name}, our return window is 30 days, so we can't accept this return. The {product} is still under warranty, though, if anything goes wrong with it.",
        "returns are only accepted within 30 days",
    ),
    (
        "When will my refund of {amount} show up?",
        "Processed. 5-10 days.",
        "Good news, {name}: your refund of {amount} has been processed and should reach your account within 5-10 business days.",
        "the refund of {amount} has been processed and takes 5-10 business days",
    ),
    (
        "The {product} manual is missing from the box.",
        "PDF on website.",
        "Thanks for letting us know, {name}! You'll find the {product} manual as a PDF on our website under Support > Manuals.",
        "the manual for the {product} is available as a PDF on the website",
    ),
    (
        "Your courier was rude and threw my parcel.",
        "Reported.",
        "I'm sorry about that, {name}, that's not okay. I've reported it to the courier, and if anything inside was damaged, tell me and we'll replace it.",
        "the incident has been reported to the courier",
    ),
    (
        "Can I change the email on my account?",
        "Settings > Profile.",
        "Sure, {name}! You can change it under Settings > Profile; we'll send a confirmation to the new address.",
        "the email address can be changed in Settings > Profile",
    ),
    (
        "I ordered the wrong color of the {product}, can I swap it?",
        "Swap free within 14 days. Use returns page.",
        "Absolutely, {name}! Swaps are free within 14 days: start one on our returns page and we'll send the {product} in the color you want.",
        "color swaps are free within 14 days through the returns page",
    ),
    (
        "I was billed after I cancelled.",
        "Cancelled after renewal date. No refund.",
        "I understand the frustration, {name}. The cancellation came in just after the renewal date, so this period was billed, but your plan won't renew again and stays active until it ends.",
        "the cancellation was received after the renewal date so the charge stands",
    ),
    (
        "My package says delivered but it isn't here.",
        "Check neighbours. Wait 48h.",
        "Sorry for the worry, {name}! Parcels marked delivered sometimes turn up within 48 hours or with a neighbour. If it hasn't appeared by then, let me know and we'll open a claim.",
        "check with your neighbours and wait 48 hours before a claim",
    ),
    (
        "Is there a student discount?",
        "No.",
        "Thanks for asking, {name}! We don't offer a student discount at the moment, but our newsletter gets every seasonal sale first.",
        "there is no student discount",
    ),
    (
        "The 2FA code isn't arriving by SMS.",
        "Use authenticator app instead.",
        "Sorry for the trouble, {name}. SMS codes can be unreliable with some carriers, so we recommend switching to an authenticator app under Settings > Security.",
        "you should use an authenticator app instead of SMS codes",
    ),
    (
        "Can you send a replacement charger for the {product}?",
        "{amount}. Order on website.",
        "Of course, {name}! A replacement charger for the {product} is {amount}, and you can order it on our website under Accessories.",
        "a replacement charger costs {amount} and can be ordered on the website",
    ),
]

OPENERS = [
    "Dear valued customer,",
    "Dear {name},",
    "Hello {name}, and thank you so very much for reaching out to us today.",
    "Dear {name}, first and foremost, thank you for contacting Acme Customer Support.",
    "Hi {name},",
]
APOLOGIES = [
    "I am so incredibly sorry for any inconvenience, frustration or disappointment this may have caused you.",
    "Please accept my sincerest and deepest apologies for this situation.",
    "I truly, deeply apologize, and I completely understand how upsetting this must be.",
    "We are terribly sorry, and I want to apologize again on behalf of the entire Acme team.",
    "I cannot apologize enough for this experience, which is not at all the standard we hold ourselves to.",
]
FILLERS = [
    "I have carefully reviewed the details of your request and I would like to inform you that",
    "After looking into this matter thoroughly with the relevant team, I can confirm that",
    "Please be advised that, according to the information available in our systems,",
    "I wanted to take a moment to let you know that, as far as I am able to see,",
]
CLOSERS = [
    "Once again, I am so sorry. Please do not hesitate to reach out if there is anything else at all we can do for you, at any time.",
    "We sincerely apologize again and truly value you as a customer. Thank you for your patience and understanding.",
    "Again, I apologize profusely for the trouble. Should you have any further questions, concerns or feedback, we are always here for you.",
    "I hope this helps, and I am deeply sorry once more. Wishing you a wonderful rest of your day!",
]


def order_number(rng: random.Random) -> str:
    return f"#{rng.randint(10000, 99999)}"


def fill(text: str, slots: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: slots[m.group(1)], text)


def verbose(rng: random.Random, fact: str, slots: dict[str, str]) -> str:
    return " ".join(
        [
            fill(rng.choice(OPENERS), slots),
            rng.choice(APOLOGIES),
            f"{rng.choice(FILLERS)} {fill(fact, slots)}.",
            rng.choice(CLOSERS),
        ]
    )


def example(rng: random.Random, scenario: tuple[str, str, str, str]) -> dict[str, object]:
    customer, curt, warm, fact = scenario
    slots = {
        "name": rng.choice(NAMES),
        "order": order_number(rng),
        "day": rng.choice(DAYS),
        "product": rng.choice(PRODUCTS),
        "amount": rng.choice(AMOUNTS),
    }
    prompt = (
        f"Customer ({slots['name']}): {fill(customer, slots)}\nDraft reply: {fill(curt, slots)}"
    )
    return {
        "input": {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": fill(warm, slots)}],
        "non_preferred_output": [{"role": "assistant", "content": verbose(rng, fact, slots)}],
    }


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    train_scenarios = SCENARIOS[:-N_TEST_SCENARIOS]
    test_scenarios = SCENARIOS[-N_TEST_SCENARIOS:]
    train = [example(rng, s) for s in train_scenarios for _ in range(2)]
    test = [example(rng, s) for s in test_scenarios for _ in range(2)]
    rng.shuffle(train)
    project = Path(__file__).resolve().parent.parent
    write_jsonl(project / "data" / "train.jsonl", train)
    write_jsonl(project / "data" / "test.jsonl", test)
    print(f"wrote {len(train)} train and {len(test)} test examples to {project / 'data'}")


if __name__ == "__main__":
    main()
