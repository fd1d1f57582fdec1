"""Generate the sql-helper multi-turn chat data (reproducible: seeded RNG).

Run from anywhere:  python projects/sql-helper/tools/make_data.py
It rewrites data/train.jsonl and data/test.jsonl next to this tools/ directory.

Each conversation asks for a query over Acme's shop database and then refines it one or
two times ("only for Germany", "top 5", "sort by revenue"). Queries are built from parts
(select, joins, filters, grouping, order, limit), so each follow-up answer is the previous
query with exactly the requested change; the assistant repeats the full query each time.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

SEED = 5
N_TRAIN = 72
N_TEST = 16
SYSTEM_PROMPT = (
    "You write PostgreSQL for Acme's shop database. Tables: "
    "customers(id, name, email, country, created_at), "
    "orders(id, customer_id, status, total, created_at), "
    "order_items(order_id, product_id, quantity, unit_price), "
    "products(id, name, category, price). Answer with one SQL query only."
)

COUNTRIES = ["Germany", "France", "Canada", "Japan", "Brazil", "Kenya", "Poland", "Spain"]
STATUSES = ["shipped", "pending", "cancelled", "refunded"]
YEARS = ["2024", "2025", "2026"]
CATEGORIES = ["audio", "kitchen", "outdoor", "office", "smart-home"]


@dataclass(frozen=True)
class Query:
    select: tuple[str, ...]
    source: str
    joins: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    order_by: str | None = None
    limit: int | None = None
    # Which table alias holds created_at / country / status, for follow-ups to refer to.
    facts: dict[str, str] = field(default_factory=dict, compare=False)

    def sql(self) -> str:
        lines = [f"SELECT {', '.join(self.select)}", f"FROM {self.source}"]
        lines.extend(self.joins)
        if self.where:
            lines.append("WHERE " + "\n  AND ".join(self.where))
        if self.group_by:
            lines.append(f"GROUP BY {', '.join(self.group_by)}")
        if self.order_by:
            lines.append(f"ORDER BY {self.order_by}")
        if self.limit:
            lines.append(f"LIMIT {self.limit}")
        return "\n".join(lines) + ";"


CUSTOMER_JOIN = "JOIN customers c ON c.id = o.customer_id"
ITEMS_JOIN = "JOIN order_items oi ON oi.order_id = o.id"
PRODUCTS_JOIN = "JOIN products p ON p.id = oi.product_id"

# (ways to ask, the query) — the facts say which columns follow-ups may filter on.
BASES: list[tuple[list[str], Query]] = [
    (
        [
            "How many orders do we have per status?",
            "count orders by status pls",
            "Give me the number of orders in each status.",
        ],
        Query(
            ("o.status", "COUNT(*) AS orders"),
            "orders o",
            group_by=("o.status",),
            order_by="orders DESC",
            facts={"date": "o.created_at", "status": "o.status"},
        ),
    ),
    (
        [
            "Which customers spent the most?",
            "Top customers by total spend",
            "Who are our biggest customers by revenue?",
        ],
        Query(
            ("c.name", "SUM(o.total) AS revenue"),
            "orders o",
            joins=(CUSTOMER_JOIN,),
            group_by=("c.name",),
            order_by="revenue DESC",
            limit=10,
            facts={"date": "o.created_at", "country": "c.country", "status": "o.status"},
        ),
    ),
    (
        ["Revenue per month?", "Show monthly revenue", "I need total sales by month."],
        Query(
            ("date_trunc('month', o.created_at) AS month", "SUM(o.total) AS revenue"),
            "orders o",
            group_by=("month",),
            order_by="month",
            facts={"date": "o.created_at", "status": "o.status"},
        ),
    ),
    (
        [
            "List the customers who signed up recently.",
            "newest customers?",
            "Show me customers ordered by signup date, newest first.",
        ],
        Query(
            ("c.id", "c.name", "c.email", "c.created_at"),
            "customers c",
            order_by="c.created_at DESC",
            limit=20,
            facts={"date": "c.created_at", "country": "c.country"},
        ),
    ),
    (
        [
            "What are our best-selling products?",
            "top products by units sold",
            "Which products sell the most units?",
        ],
        Query(
            ("p.name", "SUM(oi.quantity) AS units"),
            "order_items oi",
            joins=(
                "JOIN products p ON p.id = oi.product_id",
                "JOIN orders o ON o.id = oi.order_id",
            ),
            group_by=("p.name",),
            order_by="units DESC",
            limit=10,
            facts={"date": "o.created_at", "status": "o.status", "category": "p.category"},
        ),
    ),
    (
        [
            "How many customers do we have in each country?",
            "customers per country",
            "Break down our customer count by country.",
        ],
        Query(
            ("c.country", "COUNT(*) AS customers"),
            "customers c",
            group_by=("c.country",),
            order_by="customers DESC",
            facts={"date": "c.created_at"},
        ),
    ),
    (
        [
            "What's the average order value?",
            "avg order total?",
            "Compute the mean order value for me.",
        ],
        Query(
            ("ROUND(AVG(o.total), 2) AS avg_order_value",),
            "orders o",
            facts={"date": "o.created_at", "status": "o.status"},
        ),
    ),
    (
        [
            "Revenue by product category?",
            "sales per category",
            "How much revenue does each product category bring in?",
        ],
        Query(
            ("p.category", "SUM(oi.quantity * oi.unit_price) AS revenue"),
            "orders o",
            joins=(ITEMS_JOIN, PRODUCTS_JOIN),
            group_by=("p.category",),
            order_by="revenue DESC",
            facts={"date": "o.created_at", "status": "o.status"},
        ),
    ),
    (
        [
            "Which customers have never ordered?",
            "customers with zero orders",
            "Find customers that signed up but never placed an order.",
        ],
        Query(
            ("c.id", "c.name", "c.email"),
            "customers c",
            joins=("LEFT JOIN orders o ON o.customer_id = c.id",),
            where=("o.id IS NULL",),
            facts={"date": "c.created_at", "country": "c.country"},
        ),
    ),
    (
        [
            "Show the most recent orders.",
            "latest orders",
            "List our newest orders with their totals.",
        ],
        Query(
            ("o.id", "o.customer_id", "o.status", "o.total", "o.created_at"),
            "orders o",
            order_by="o.created_at DESC",
            limit=20,
            facts={"date": "o.created_at", "status": "o.status"},
        ),
    ),
    (
        ["List products and their prices.", "product price list", "What do our products cost?"],
        Query(
            ("p.name", "p.category", "p.price"),
            "products p",
            order_by="p.price DESC",
            facts={"category": "p.category"},
        ),
    ),
    (
        [
            "How many orders does each customer have?",
            "order count per customer",
            "Number of orders by customer, please.",
        ],
        Query(
            ("c.name", "COUNT(o.id) AS orders"),
            "customers c",
            joins=("JOIN orders o ON o.customer_id = c.id",),
            group_by=("c.name",),
            order_by="orders DESC",
            facts={"date": "o.created_at", "country": "c.country", "status": "o.status"},
        ),
    ),
]


def follow_up(rng: random.Random, query: Query) -> tuple[str, Query] | None:
    """A refinement the user might ask for next, and the query that answers it."""
    options: list[tuple[str, Query]] = []
    facts = query.facts
    if "country" in facts and not any("country" in w for w in query.where):
        country = rng.choice(COUNTRIES)
        ask = rng.choice(
            [
                f"Only for {country}.",
                f"now just customers in {country}",
                f"Can you restrict it to {country}?",
            ]
        )
        options.append(
            (ask, replace(query, where=(*query.where, f"{facts['country']} = '{country}'")))
        )
    if "date" in facts and not any("created_at" in w for w in query.where):
        year = rng.choice(YEARS)
        column = facts["date"]
        ask = rng.choice(
            [f"Only {year}, please.", f"limit it to {year}", f"Just for the year {year}?"]
        )
        where = f"{column} >= '{year}-01-01' AND {column} < '{int(year) + 1}-01-01'"
        options.append((ask, replace(query, where=(*query.where, where))))
    if (
        "status" in facts
        and "status" not in " ".join(query.where)
        and "o.status" not in query.select
    ):
        status = rng.choice(STATUSES)
        ask = rng.choice(
            [
                f"Only {status} orders.",
                f"exclude everything that isn't {status}",
                f"Count only orders with status {status}.",
            ]
        )
        options.append(
            (ask, replace(query, where=(*query.where, f"{facts['status']} = '{status}'")))
        )
    if "category" in facts and "category" not in " ".join(query.where):
        category = rng.choice(CATEGORIES)
        ask = rng.choice([f"Only the {category} category.", f"just {category} products"])
        options.append(
            (ask, replace(query, where=(*query.where, f"{facts['category']} = '{category}'")))
        )
    if query.order_by and query.limit != 5 and query.group_by:
        n = rng.choice([3, 5, 25])
        ask = rng.choice([f"Top {n} only.", f"just give me the first {n}", f"Limit to {n} rows."])
        options.append((ask, replace(query, limit=n)))
    if not options:
        return None
    return rng.choice(options)


def conversation(rng: random.Random) -> list[dict[str, str]]:
    asks, query = rng.choice(BASES)
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": rng.choice(asks)},
        {"role": "assistant", "content": query.sql()},
    ]
    for _ in range(rng.choice([1, 1, 2])):
        step = follow_up(rng, query)
        if step is None:
            break
        ask, query = step
        messages.append({"role": "user", "content": ask})
        messages.append({"role": "assistant", "content": query.sql()})
    return messages


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def prompt_shingles(messages: list[dict[str, str]]) -> set[str]:
    """Word 3-grams of everything but the answers: what near-duplicate checks compare."""
    text = " ".join(m["content"] for m in messages if m["role"] != "assistant")
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


def main() -> None:
    rng = random.Random(SEED)
    kept: list[set[str]] = []
    rows: list[dict[str, object]] = []
    for _ in range(20000):
        if len(rows) == N_TRAIN + N_TEST:
            break
        messages = conversation(rng)
        if len(messages) < 5:  # multi-turn only
            continue
        grams = prompt_shingles(messages)
        # The shared system prompt makes every pair look alike; 0.8 keeps real variety.
        if any(len(grams & other) / len(grams | other) >= 0.8 for other in kept):
            continue
        kept.append(grams)
        rows.append({"messages": messages})
    project = Path(__file__).resolve().parent.parent
    write_jsonl(project / "data" / "train.jsonl", rows[:N_TRAIN])
    write_jsonl(project / "data" / "test.jsonl", rows[N_TRAIN:])
    print(
        f"wrote {len(rows[:N_TRAIN])} train and {len(rows[N_TRAIN:])} test examples to {project / 'data'}"
    )


if __name__ == "__main__":
    main()
