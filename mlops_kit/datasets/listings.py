"""San Francisco Airbnb-style listings and their review events.

The course predicts nightly price from a listing's features. The real data
(Inside Airbnb) is licensed and changes every month, so the kit generates a
stand-in with the same shape and a known generative story:

``log(price)`` is linear in capacity, bedrooms, bathrooms, review score and
superhost status, plus a neighbourhood effect, a room-type effect and noise.
A linear model on the log scale therefore explains most, not all, of the
variance (R^2 around 0.7), which is what a price model on the real data
reaches too. Review scores are missing exactly where a listing has no
reviews yet, as on Airbnb, plus a few sub-scores missing at random.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_kit.exceptions import ConfigError, DataError

__all__ = ["NEIGHBOURHOODS", "ROOM_TYPES", "listings", "review_events"]

#: neighbourhood -> (typical nightly price of an entire home in USD, latitude, longitude, share)
NEIGHBOURHOODS: dict[str, tuple[float, float, float, float]] = {
    "Mission": (185.0, 37.7599, -122.4148, 0.11),
    "Western Addition": (175.0, 37.7816, -122.4330, 0.09),
    "South of Market": (205.0, 37.7785, -122.4056, 0.08),
    "Downtown/Civic Center": (160.0, 37.7825, -122.4140, 0.08),
    "Castro/Upper Market": (210.0, 37.7609, -122.4350, 0.07),
    "Haight Ashbury": (190.0, 37.7692, -122.4481, 0.07),
    "Noe Valley": (225.0, 37.7502, -122.4337, 0.06),
    "Bernal Heights": (170.0, 37.7389, -122.4152, 0.06),
    "Nob Hill": (215.0, 37.7930, -122.4161, 0.06),
    "Marina": (255.0, 37.8037, -122.4368, 0.05),
    "Pacific Heights": (280.0, 37.7925, -122.4382, 0.05),
    "Russian Hill": (265.0, 37.8011, -122.4194, 0.05),
    "Outer Sunset": (145.0, 37.7550, -122.4940, 0.06),
    "Inner Richmond": (160.0, 37.7800, -122.4640, 0.06),
    "Excelsior": (120.0, 37.7245, -122.4250, 0.05),
}

#: room type -> (share of listings, effect on log price)
ROOM_TYPES: dict[str, tuple[float, float]] = {
    "Entire home/apt": (0.62, 0.0),
    "Private room": (0.33, -0.70),
    "Shared room": (0.02, -1.20),
    "Hotel room": (0.03, -0.15),
}

_MIN_NIGHTS = np.array([1, 2, 3, 4, 5, 7, 30])
_MIN_NIGHTS_P = np.array([0.22, 0.24, 0.16, 0.05, 0.05, 0.06, 0.22])


def _pick(rng: np.random.Generator, table: dict, n: int, share_index: int) -> np.ndarray:
    names = np.array(list(table))
    shares = np.array([v[share_index] for v in table.values()])
    return rng.choice(names, size=n, p=shares / shares.sum())


def listings(n: int = 5000, seed: int = 42) -> pd.DataFrame:
    """Generate ``n`` San Francisco listings with a learnable price.

    Parameters
    ----------
    n : int
        Number of listings (the course uses 5000; tests use a few hundred).
    seed : int
        Seed of the numpy Generator: the same seed gives an identical frame.

    Returns
    -------
    pandas.DataFrame
        One row per listing: ``id``, ``neighbourhood``, ``room_type``,
        ``accommodates``, ``bedrooms``, ``bathrooms``, ``beds``,
        ``minimum_nights``, ``number_of_reviews``, ``review_scores_rating``,
        ``review_scores_cleanliness``, ``review_scores_location``,
        ``review_scores_value`` (0-5, null without reviews),
        ``host_is_superhost``, ``latitude``, ``longitude``, ``price`` (USD).

    Examples
    --------
    >>> df = listings(100, seed=1)
    >>> df.shape
    (100, 17)
    >>> bool((df["price"] > 0).all())
    True
    """
    if n < 1:
        raise ConfigError(f"listings() needs n >= 1. Got n={n!r} instead.")
    rng = np.random.default_rng(seed)
    hood = _pick(rng, NEIGHBOURHOODS, n, 3)
    room = _pick(rng, ROOM_TYPES, n, 0)
    entire = room == "Entire home/apt"
    hotel = room == "Hotel room"

    accommodates = np.where(
        entire,
        np.clip(1 + rng.poisson(2.6, n), 1, 16),
        np.where(room == "Shared room", 1, 1 + rng.binomial(2 + hotel, 0.35)),
    )
    bedrooms = np.where(
        entire, np.clip(np.round(accommodates / 2.2 + rng.normal(0, 0.5, n)), 0, 8), 1
    ).astype(np.int64)
    bathrooms = np.where(
        entire,
        np.clip(1 + 0.5 * rng.binomial(np.maximum(bedrooms, 1), 0.45), 1, 6),
        np.where(rng.random(n) < 0.3, 1.5, 1.0),
    )
    beds = np.maximum(np.maximum(bedrooms, 1), np.round(accommodates / 1.7)).astype(np.int64)
    minimum_nights = rng.choice(_MIN_NIGHTS, size=n, p=_MIN_NIGHTS_P)
    number_of_reviews = rng.negative_binomial(0.6, 0.012, n)

    quality = rng.normal(0, 1, n)  # hidden host quality drives every score
    rating = np.clip(4.72 + 0.18 * quality + rng.normal(0, 0.08, n), 1, 5)
    sub_scores = {
        name: np.clip(rating + rng.normal(shift, 0.12, n), 1, 5)
        for name, shift in (("cleanliness", 0.0), ("location", 0.05), ("value", -0.1))
    }
    no_reviews = number_of_reviews == 0
    superhost = (rng.random(n) < 0.15 + 0.25 * (quality > 0.3)) & ~no_reviews

    hood_table = pd.DataFrame(NEIGHBOURHOODS, index=["base", "lat", "lon", "share"]).T
    base, lat, lon = (hood_table[c].reindex(hood).to_numpy() for c in ("base", "lat", "lon"))
    room_effect = pd.Series({k: v[1] for k, v in ROOM_TYPES.items()}).reindex(room).to_numpy()
    log_price = (
        np.log(base)
        + room_effect
        + 0.11 * (accommodates - 2)
        + 0.10 * bedrooms
        + 0.12 * (bathrooms - 1)
        + 0.25 * (rating - 4.72) * ~no_reviews
        + 0.06 * superhost
        - 0.004 * minimum_nights
        + rng.normal(0, 0.30, n)
    )
    price = np.clip(np.round(np.exp(log_price)), 25, 10_000)

    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64) * 1009 + 10_000,
            "neighbourhood": hood,
            "room_type": room,
            "accommodates": accommodates.astype(np.int64),
            "bedrooms": bedrooms,
            "bathrooms": bathrooms.astype(np.float64),
            "beds": beds,
            "minimum_nights": minimum_nights.astype(np.int64),
            "number_of_reviews": number_of_reviews.astype(np.int64),
            "review_scores_rating": np.round(rating, 2),
            **{f"review_scores_{k}": np.round(v, 2) for k, v in sub_scores.items()},
            "host_is_superhost": superhost,
            "latitude": np.round(lat + rng.normal(0, 0.006, n), 6),
            "longitude": np.round(lon + rng.normal(0, 0.006, n), 6),
            "price": price.astype(np.float64),
        }
    )
    score_cols = [c for c in frame if c.startswith("review_scores_")]
    frame.loc[no_reviews, score_cols] = np.nan
    for col in score_cols[1:]:  # a few sub-scores left blank by reviewers
        frame.loc[rng.random(n) < 0.01, col] = np.nan
    return frame


def review_events(
    listings_df: pd.DataFrame,
    n: int = 20_000,
    seed: int = 7,
    start: str = "2024-01-01",
    days: int = 365,
) -> pd.DataFrame:
    """Generate timestamped reviews of ``listings_df``, oldest first.

    Popular listings (many reviews) get more events, summer weekends are
    busier, and a review's stars follow the listing's score, so features
    built over time windows (reviews in the last 30 days, mean stars) carry
    signal about price.

    Parameters
    ----------
    listings_df : pandas.DataFrame
        Output of :func:`listings` (needs ``id``, ``number_of_reviews``,
        ``review_scores_rating``, ``minimum_nights``, ``accommodates``).
    n : int
        Number of events.
    seed : int
        Seed of the numpy Generator.
    start : str
        First day (UTC) of the period.
    days : int
        Length of the period in days.

    Returns
    -------
    pandas.DataFrame
        ``review_id``, ``listing_id``, ``event_time`` (UTC, naive),
        ``rating`` (1-5 stars), ``stay_nights``, ``guests``.
    """
    missing = {"id", "number_of_reviews", "review_scores_rating", "minimum_nights",
               "accommodates"} - set(listings_df.columns)
    if missing:
        raise DataError(
            "review_events() needs a frame from listings(); it lacks the columns "
            f"{sorted(missing)}."
        )
    rng = np.random.default_rng(seed)
    weight = listings_df["number_of_reviews"].to_numpy(dtype=float) + 1.0
    row = rng.choice(len(listings_df), size=n, p=weight / weight.sum())
    picked = listings_df.iloc[row]

    day = np.arange(days)
    day_start = pd.Timestamp(start) + pd.to_timedelta(day, unit="D")
    season = 1 + 0.35 * np.sin(2 * np.pi * (day - 80) / 365)  # busier in summer
    weekend = np.where(day_start.day_of_week >= 4, 1.3, 1.0)
    day_p = season * weekend
    chosen_day = rng.choice(days, size=n, p=day_p / day_p.sum())
    seconds = rng.integers(0, 86_400, n)
    event_time = (
        pd.Timestamp(start)
        + pd.to_timedelta(chosen_day, unit="D")
        + pd.to_timedelta(seconds, unit="s")
    )

    score = picked["review_scores_rating"].fillna(4.6).to_numpy()
    stars = np.clip(np.round(score + rng.normal(0, 0.6, n)), 1, 5).astype(np.int64)
    min_nights = picked["minimum_nights"].to_numpy()
    stay = np.maximum(min_nights, rng.geometric(0.35, n))
    guests = 1 + rng.binomial(picked["accommodates"].to_numpy() - 1, 0.6)

    frame = pd.DataFrame(
        {
            "listing_id": picked["id"].to_numpy(dtype=np.int64),
            "event_time": np.asarray(event_time, dtype="datetime64[us]"),
            "rating": stars,
            "stay_nights": stay.astype(np.int64),
            "guests": guests.astype(np.int64),
        }
    )
    frame = frame.sort_values(["event_time", "listing_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "review_id", np.arange(1, n + 1, dtype=np.int64))
    return frame
