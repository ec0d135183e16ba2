"""Generate the demo shop's raw seed CSVs, deterministically.

Run from the project root: ``python seeds/generate.py``. The output is committed; the
generator is here so that anyone can see how the data was made and regenerate it.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20260101
START = datetime(2026, 1, 1)
END = datetime(2026, 5, 1)  # the demo's "now": every event is before it
OUT = Path(__file__).parent / "shop"

CATEGORIES = [
    "books",
    "electronics",
    "fashion",
    "garden",
    "grocery",
    "home",
    "sports",
    "toys",
]
COUNTRIES = ["de", "fr", "nl", "es", "it", "pl", "se", "uk"]
N_CUSTOMERS = 3000
N_PRODUCTS = 240
INACTIVE_SHARE = 0.08  # customers who never visit nor order
ANONYMOUS_SHARE = 0.03  # page views with no customer (logged out)
LATE_SHARE = 0.05  # events that reach the warehouse hours or days late


def fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def write(name: str, header: list[str], rows: list[list[object]]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"raw_{name}.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"raw_{name}.csv: {len(rows)} rows")


def loaded_at(rng: random.Random, event_at: datetime) -> datetime:
    """When the row reached the warehouse: minutes later, sometimes days later."""
    if rng.random() < LATE_SHARE:
        return event_at + timedelta(hours=rng.randint(2, 72), seconds=rng.randint(0, 59))
    return event_at + timedelta(seconds=rng.randint(30, 900))


def make_products(rng: random.Random) -> list[list[object]]:
    rows = []
    for product_id in range(1, N_PRODUCTS + 1):
        category = CATEGORIES[(product_id - 1) % len(CATEGORIES)]
        price = round(rng.lognormvariate(3.2, 0.7), 2)
        created = START - timedelta(days=rng.randint(30, 400))
        rows.append(
            [product_id, f"{category}-{product_id:04d}", category, f"{price:.2f}", fmt(created)]
        )
    return rows


def make_customers(rng: random.Random) -> list[list[object]]:
    rows = []
    for customer_id in range(1, N_CUSTOMERS + 1):
        signed_up = (
            START
            - timedelta(days=60)
            + timedelta(seconds=rng.randint(0, int((END - START).total_seconds()) + 55 * 86400))
        )
        rows.append([customer_id, rng.choice(COUNTRIES), fmt(signed_up)])
    return rows


def make_activity(
    rng: random.Random,
    customers: list[list[object]],
    products: list[list[object]],
) -> tuple[list[list[object]], list[list[object]], list[list[object]]]:
    by_category: dict[str, list[list[object]]] = {c: [] for c in CATEGORIES}
    for product in products:
        by_category[str(product[2])].append(product)
    views: list[list[object]] = []
    orders: list[list[object]] = []
    items: list[list[object]] = []
    session_id = 0

    def add_order(customer_id: int, ordered: datetime, basket: list[list[object]]) -> None:
        order_id = len(orders) + 1
        status = "cancelled" if rng.random() < 0.04 else "completed"
        orders.append([order_id, customer_id, fmt(ordered), status, fmt(loaded_at(rng, ordered))])
        for product in basket:
            items.append([len(items) + 1, order_id, product[0], rng.randint(1, 3), product[3]])

    for customer_id, _country, signed_up_text in customers:
        if rng.random() < INACTIVE_SHARE:
            continue
        signed_up = datetime.strptime(str(signed_up_text), "%Y-%m-%d %H:%M:%S")
        favourites = rng.sample(CATEGORIES, 2)
        sessions_per_day = rng.lognormvariate(-3.0, 0.8)
        cursor = max(signed_up, START)
        while True:
            cursor += timedelta(seconds=rng.expovariate(sessions_per_day / 86400))
            if cursor >= END:
                break
            session_id += 1
            at = cursor.replace(microsecond=0)
            basket = []
            for _ in range(rng.randint(1, 7)):
                category = rng.choice(favourites) if rng.random() < 0.7 else rng.choice(CATEGORIES)
                product = rng.choice(by_category[category])
                views.append(
                    [
                        len(views) + 1,
                        session_id,
                        customer_id,
                        product[0],
                        "page_view",
                        fmt(at),
                        fmt(loaded_at(rng, at)),
                    ]
                )
                if rng.random() < 0.25:
                    # the cart event shares the view's second: a tie on the timestamp
                    views.append(
                        [
                            len(views) + 1,
                            session_id,
                            customer_id,
                            product[0],
                            "add_to_cart",
                            fmt(at),
                            fmt(loaded_at(rng, at)),
                        ]
                    )
                    basket.append(product)
                at += timedelta(seconds=rng.randint(5, 240))
            if basket and rng.random() < 0.7 and at < END:
                add_order(customer_id, at, basket)
                if rng.random() < 0.03:
                    add_order(customer_id, at, basket[:1])  # a split order: same second
        # a few orders placed by phone: no clickstream, sometimes before any visit
        for _ in range(rng.choice([0, 0, 0, 1])):
            ordered = START + timedelta(
                seconds=rng.randint(0, int((END - START).total_seconds()) - 1)
            )
            if ordered > signed_up:
                add_order(customer_id, ordered, [rng.choice(products)])

    for _ in range(int(len(views) * ANONYMOUS_SHARE)):
        at = START + timedelta(seconds=rng.randint(0, int((END - START).total_seconds()) - 1))
        session_id += 1
        product = rng.choice(products)
        views.append(
            [
                len(views) + 1,
                session_id,
                "",
                product[0],
                "page_view",
                fmt(at),
                fmt(loaded_at(rng, at)),
            ]
        )
    return views, orders, items


def main() -> None:
    rng = random.Random(SEED)
    products = make_products(rng)
    customers = make_customers(rng)
    views, orders, items = make_activity(rng, customers, products)
    # ids follow generation order, rows are written in time order as an export would
    orders.sort(key=lambda row: (row[2], row[0]))
    views.sort(key=lambda row: (row[5], row[0]))
    write("customers", ["id", "country_code", "signed_up_at"], customers)
    write("products", ["id", "name", "category", "price", "listed_at"], products)
    write("orders", ["id", "customer_id", "ordered_at", "status", "loaded_at"], orders)
    write("order_items", ["id", "order_id", "product_id", "quantity", "unit_price"], items)
    write(
        "page_views",
        ["id", "session_id", "customer_id", "product_id", "event_type", "viewed_at", "loaded_at"],
        views,
    )


if __name__ == "__main__":
    main()
