import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from analytics.services import rollups_rebuild, utc_day
from bookings import notifications
from bookings import services as booking_services
from bookings.inventory import inventory_problems
from bookings.models import Booking, Notification, Payment, Refund, Ticket
from events import seating
from events import services as event_services
from events.models import Category, Event, EventStatus
from nuvio.errors import NuvioError

STAFF = ("staff@nuvio.test", "Sam Staff", "staff-demo-pass")
CUSTOMERS = [
    ("alice@nuvio.test", "Alice Fernandes", "alice-demo-pass"),
    ("bob@nuvio.test", "Bob Mehta", "bob-demo-pass"),
    ("chen@nuvio.test", "Chen Li", "chen-demo-pass"),
]

# Demo buyers behind the seeded sales. Not on @nuvio.test: those are the logins.
FAN_EMAIL = "fan{:02d}@fans.nuvio.test"
FAN_DOMAIN = "@fans.nuvio.test"
CARD = "4242424242424242"
# Every seeded ticket is a real booking, reserved and paid through the services
# (a dozen queries each), so a big event gets at most this many; the nearly
# full and sold-out events are small, so they sell out for real.
MAX_SEEDED_SALES = 32
# Booking sizes, in turn (each within the default max_tickets_per_user of 4).
QUANTITIES = (2, 4, 1, 3, 2, 4)
# The sales are spread over this many days up to today (the analytics
# dashboard's default range), so its daily chart has a history.
SALES_DAYS = 30
FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"

# Every demo city is in India: its events are in India's zone, and their
# times (``DemoEvent.at``) are local times there.
DEMO_ZONE = "Asia/Kolkata"
IST = ZoneInfo(DEMO_ZONE)
STATES = {
    "Mumbai": "Maharashtra",
    "Pune": "Maharashtra",
    "Bengaluru": "Karnataka",
    "Delhi": "Delhi",
    "Chennai": "Tamil Nadu",
    "Hyderabad": "Telangana",
    "Kolkata": "West Bengal",
    "Goa": "Goa",
}


@dataclass(frozen=True)
class DemoEvent:
    name: str
    category: str
    city: str
    venue_name: str
    venue_address: str
    postal_code: str
    days: int  # from today, in India; negative: it already happened
    at: str  # local start time, "HH:MM"
    hours: float
    capacity: int
    price: str
    sold: float  # share of the capacity sold, at most MAX_SEEDED_SALES tickets
    description: str
    status: str = EventStatus.PUBLISHED


C = Category
# fmt: off
EVENTS = [
    # Mumbai
    DemoEvent("Bollywood Unplugged: Live at the Dome", C.MUSIC, "Mumbai", "NSCI Dome",
              "Lala Lajpatrai Marg, Worli", "400018", 12, "19:30", 3, 20, "1499.00", 0.97,
              "Film songs from five decades, reimagined with a live orchestra."),
    DemoEvent("Product Leaders Summit Mumbai", C.CONFERENCE, "Mumbai",
              "Jio World Convention Centre", "Bandra Kurla Complex", "400098", 30, "09:30", 9,
              800, "4999.00", 0.4,
              "A day of talks and roundtables on building products for India."),
    DemoEvent("Stand-up Saturdays at The Habitat", C.COMEDY, "Mumbai", "The Habitat",
              "Khar West", "400052", 4, "21:00", 2, 12, "599.00", 1.0,
              "Four comics, one mic, no filter."),
    DemoEvent("Hamlet in Hindustani", C.THEATRE, "Mumbai", "Prithvi Theatre", "Juhu Church Road",
              "400049", 18, "19:00", 2.5, 220, "750.00", 0.6,
              "Shakespeare's tragedy, translated and staged in the round."),
    DemoEvent("Heritage Walk: Fort and Kala Ghoda", C.OTHER, "Mumbai", "Kala Ghoda Art Precinct",
              "Fort", "400001", 6, "07:30", 3, 30, "0.00", 0.5,
              "A guided morning walk through Mumbai's Gothic and Art Deco streets."),
    # Bengaluru
    DemoEvent("Bengaluru Python Conference", C.CONFERENCE, "Bengaluru",
              "NIMHANS Convention Centre", "Hosur Road", "560029", 45, "09:00", 8, 1200,
              "2500.00", 0.55, "Two tracks of talks on Python in production, data and the web."),
    DemoEvent("Hands-on Kubernetes Workshop", C.WORKSHOP, "Bengaluru",
              "Koramangala Innovation Hub", "80 Feet Road, Koramangala", "560095", 9, "10:00", 6,
              20, "3500.00", 0.95, "Bring a laptop: deploy, scale and debug a real service."),
    DemoEvent("Indie Rock Night at Whitefield", C.MUSIC, "Bengaluru", "Phoenix Marketcity",
              "Whitefield Main Road, Mahadevapura", "560048", 21, "18:30", 4, 2500, "999.00", 0.3,
              "Three of the city's loudest indie bands on one open-air stage."),
    DemoEvent("Kannada Theatre Festival: Opening Night", C.THEATRE, "Bengaluru",
              "Ranga Shankara", "JP Nagar 2nd Phase", "560078", 27, "19:30", 2, 300, "400.00",
              0.2, "The festival opens with a new Kannada adaptation of a Tagore play."),
    DemoEvent("Bengaluru Open Badminton Finals", C.SPORTS, "Bengaluru",
              "Kanteerava Indoor Stadium", "Kasturba Road", "560001", -6, "16:00", 4, 3500,
              "300.00", 0.8, "Singles and doubles finals of the state open."),
    # Delhi
    DemoEvent("Sufi Nights at Siri Fort", C.MUSIC, "Delhi", "Siri Fort Auditorium",
              "August Kranti Marg", "110049", 15, "19:00", 3, 1800, "1200.00", 0.7,
              "Qawwali and Sufi poetry from Punjab and Rajasthan."),
    DemoEvent("India Climate Tech Forum", C.CONFERENCE, "Delhi", "Bharat Mandapam",
              "Pragati Maidan", "110001", 60, "09:30", 8, 3000, "1500.00", 0.25,
              "Founders, investors and policymakers on India's energy transition."),
    DemoEvent("Contemporary Indian Art: New Voices", C.EXHIBITION, "Delhi",
              "Kiran Nadar Museum of Art", "Saket", "110017", 2, "11:00", 8, 500, "0.00", 0.3,
              "Work by twenty artists under thirty-five. Entry is free with a ticket."),
    DemoEvent("Lodhi Garden 10K Run", C.SPORTS, "Delhi", "Lodhi Garden", "Lodhi Road", "110003",
              33, "06:00", 3, 20, "800.00", 1.0,
              "A timed 10K loop through the garden, with a finisher's medal."),
    DemoEvent("Late Night Open Mic, Hauz Khas", C.COMEDY, "Delhi", "Summer House Cafe",
              "Hauz Khas Village", "110016", 8, "20:30", 2, 120, "299.00", 0.5,
              "New material from Delhi's newest comics."),
    # Pune
    DemoEvent("Pune Jazz Evenings", C.MUSIC, "Pune", "Mahalaxmi Lawns", "Karve Nagar", "411052",
              24, "18:00", 4, 1500, "1799.00", 0.45,
              "Three jazz ensembles under the stars, with food stalls."),
    DemoEvent("Marathi Natak: Natsamrat", C.THEATRE, "Pune", "Yashwantrao Chavan Natya Griha",
              "Kothrud", "411038", 11, "18:30", 3, 18, "500.00", 0.9,
              "A revival of the Marathi classic about an ageing actor."),
    DemoEvent("Startup Pitch Day Pune", C.CONFERENCE, "Pune", "Pune International Centre",
              "Senapati Bapat Road", "411016", 39, "10:00", 7, 350, "0.00", 0.6,
              "Twenty early-stage startups pitch to a panel of angel investors."),
    DemoEvent("Pottery for Beginners", C.WORKSHOP, "Pune", "Clay Studio Koregaon Park",
              "Lane 6, Koregaon Park", "411001", 5, "11:00", 3, 16, "2200.00", 1.0,
              "Wheel-throwing basics; clay, glazing and firing included."),
    DemoEvent("Pune Auto Expo", C.EXHIBITION, "Pune", "Pune International Exhibition Centre",
              "Moshi", "412105", 50, "10:00", 8, 10000, "250.00", 0.1,
              "New cars, electric two-wheelers and vintage classics."),
    # Chennai
    DemoEvent("Margazhi Carnatic Concert", C.MUSIC, "Chennai", "The Music Academy", "TTK Road",
              "600014", 19, "18:00", 3, 1600, "600.00", 0.85,
              "A vocal recital with violin and mridangam accompaniment."),
    DemoEvent("Chepauk Cricket Legends Match", C.SPORTS, "Chennai", "MA Chidambaram Stadium",
              "Chepauk", "600005", 36, "19:00", 4, 30000, "1000.00", 0.5,
              "Retired internationals play a T20 for charity."),
    DemoEvent("Tamil Stand-up Special", C.COMEDY, "Chennai", "Museum Theatre", "Egmore",
              "600008", 14, "19:30", 2, 450, "499.00", 0.65,
              "An evening of Tamil and Tanglish stand-up."),
    DemoEvent("Chennai Design Week Exhibition", C.EXHIBITION, "Chennai", "Chennai Trade Centre",
              "Nandambakkam", "600089", -12, "10:00", 9, 5000, "200.00", 0.6,
              "Furniture, textiles and product design from South India."),
    DemoEvent("French Cinema Evening", C.OTHER, "Chennai", "Alliance Francaise of Madras",
              "College Road, Nungambakkam", "600006", 7, "18:30", 2.5, 150, "0.00", 0.4,
              "A new French feature with English subtitles, followed by a discussion."),
    # Hyderabad
    DemoEvent("Hyderabad AI Summit", C.CONFERENCE, "Hyderabad", "HITEX Exhibition Centre",
              "Izzat Nagar, Madhapur", "500084", 52, "09:00", 9, 2500, "3999.00", 0.35,
              "Applied AI in healthcare, finance and government."),
    DemoEvent("Deccan Food and Culture Festival", C.FESTIVAL, "Hyderabad", "Shilpakala Vedika",
              "Madhapur", "500081", 23, "12:00", 10, 6000, "199.00", 0.5,
              "Haleem, biryani and Irani chai, with folk music all afternoon."),
    DemoEvent("Qawwali Under the Stars", C.MUSIC, "Hyderabad", "Chowmahalla Palace Lawns",
              "Motigalli, Khilwat", "500002", 16, "19:30", 3, 20, "1499.00", 0.92,
              "A qawwali party in the courtyard of the Nizams' palace."),
    DemoEvent("Hyderabad Kabaddi Cup Final", C.SPORTS, "Hyderabad", "Gachibowli Indoor Stadium",
              "Gachibowli", "500032", 28, "19:00", 3, 5000, "350.00", 0.4,
              "The city's top two clubs play for the cup."),
    DemoEvent("Poetry and Storytelling at Lamakaan", C.OTHER, "Hyderabad", "Lamakaan",
              "Road No. 1, Banjara Hills", "500034", 3, "19:00", 2, 100, "0.00", 0.7,
              "Urdu, Telugu and English poetry, and stories from the old city."),
    # Kolkata
    DemoEvent("Rabindra Sangeet Evening", C.MUSIC, "Kolkata", "Kala Mandir",
              "Shakespeare Sarani", "700017", 13, "18:30", 3, 1000, "450.00", 0.6,
              "Tagore's songs, performed by a choir and soloists."),
    DemoEvent("Kolkata Book and Print Exhibition", C.EXHIBITION, "Kolkata",
              "Biswa Bangla Convention Centre", "New Town", "700156", 41, "11:00", 8, 8000,
              "50.00", 0.2, "Publishers, printmakers and rare book dealers under one roof."),
    DemoEvent("Raktakarabi: Bengali Theatre", C.THEATRE, "Kolkata", "Academy of Fine Arts",
              "Cathedral Road", "700071", 22, "18:30", 2.5, 500, "350.00", 0.3,
              "A new staging of Tagore's play about greed and freedom."),
    DemoEvent("Kolkata Football Derby Fan Zone", C.SPORTS, "Kolkata", "Salt Lake Stadium",
              "Bidhannagar", "700098", -3, "17:00", 4, 20, "100.00", 0.9,
              "The derby on a giant screen, with drummers from both sides."),
    DemoEvent("Creative Writing Masterclass", C.WORKSHOP, "Kolkata", "Oxford Bookstore",
              "17 Park Street", "700016", 10, "15:00", 3, 35, "1200.00", 0.5,
              "A published novelist on voice, structure and revision."),
    # Goa
    DemoEvent("Sunset Beach Music Festival", C.FESTIVAL, "Goa", "Vagator Beach",
              "Vagator, Bardez", "403509", 75, "16:00", 55, 15000, "4500.00", 0.6,
              "Three days of electronic music on the cliffs above the beach."),
    DemoEvent("Goa Carnival Street Parade", C.FESTIVAL, "Goa", "Panaji Riverfront",
              "Dayanand Bandodkar Marg, Panaji", "403001", 55, "15:00", 6, 20000, "0.00", 0.3,
              "Floats, brass bands and dancers along the Mandovi."),
    DemoEvent("Konkani Tiatr Night", C.THEATRE, "Goa", "Kala Academy", "Campal, Panaji",
              "403001", 20, "19:00", 3, 950, "300.00", 0.55,
              "Goa's own musical theatre: comedy, drama and song."),
    DemoEvent("Beginner Surf Camp", C.WORKSHOP, "Goa", "Arambol Beach", "Arambol, Pernem",
              "403524", 34, "08:00", 4, 20, "2800.00", 0.3,
              "Board, wetsuit and two instructors for every ten surfers."),
    DemoEvent("Goa Comedy Weekend", C.COMEDY, "Goa", "Cidade de Goa", "Vainguinim Beach",
              "403004", 88, "20:00", 3, 700, "999.00", 0.1,
              "The headliners of the season, by the sea."),
    DemoEvent("Fontainhas Heritage Art Fair", C.EXHIBITION, "Goa", "Fontainhas Heritage Quarter",
              "Fontainhas, Panaji", "403001", 85, "10:00", 8, 1200, "150.00", 0.0,
              "Open studios and street art in the Latin quarter. Dates to be confirmed.",
              status=EventStatus.DRAFT),
]
# fmt: on


class Command(BaseCommand):
    help = (
        "Create demo data: a staff account and a few customers with known passwords "
        "(printed), about forty events across Indian cities with tickets sold through "
        "the booking services to demo fans over the last 30 days (the analytics figures "
        "are rebuilt), and bookings in every state (held, confirmed, cancelled with a "
        "refund, expired) for the demo customers. Nobody is e-mailed. Safe to run "
        "again: demo accounts are updated, events that already exist (by name) are kept "
        "and get no new sales, and a customer who has bookings gets no demo ones."
    )

    def handle(self, *args, **options):
        now = timezone.now()
        accounts = [(*STAFF, True)] + [(*customer, False) for customer in CUSTOMERS]
        # Nobody is e-mailed: the customers' notifications are kept for the app,
        # the demo fans' (who cannot log in) are dropped below.
        with notifications.emails_withheld(), transaction.atomic():
            summary = self._seed(accounts, now)
        # After the commit, so the figures are those of the spread sales
        # whatever the roll-ups made of the bookings while they were sold.
        rollups = rollups_rebuild(day_from=utc_day(now - dt.timedelta(days=SALES_DAYS)))
        summary.append(f"analytics: {rollups} daily figures (per event and day) rebuilt")
        summary.append(_mail_destination())

        self.stdout.write("Demo data:")
        for line in summary:
            self.stdout.write(f"  {line}")
        self.stdout.write(self.style.SUCCESS("\nDemo logins (e-mail / password):"))
        for email, _, password, is_staff in accounts:
            role = "staff" if is_staff else "customer"
            self.stdout.write(f"  {role:9} {email:22} {password}")
        self.stdout.write(f"\nNuvio is at {settings.NUVIO_SITE_URL}/ (staff: /dashboard/, /admin/)")

    def _seed(self, accounts: list[tuple], now: dt.datetime) -> list[str]:
        """Write the demo data; returns the summary lines."""
        made = 0
        for email, name, password, is_staff in accounts:
            user, created = User.objects.get_or_create(email=email, defaults={"name": name})
            user.name, user.is_staff, user.is_superuser = name, is_staff, is_staff
            user.set_password(password)
            user.save()
            made += created
        summary = [f"accounts: {made} created, {len(accounts) - made} updated"]

        staff = User.objects.get(email=STAFF[0])
        created, sold = _seed_events(staff, now)
        seated_sold = _seed_seated_event(staff, now)
        if seated_sold is not None:
            created += 1
            sold += seated_sold
        kept = len(EVENTS) + 1 - created
        summary.append(f"events: {created} created, {kept} already there")
        summary.append(f"sales: {sold} tickets sold to demo fans over the last {SALES_DAYS} days")
        # Nobody can read them: the fans cannot log in.
        Notification.objects.filter(user__email__endswith=FAN_DOMAIN).delete()

        seeded = []
        for email, _, _ in CUSTOMERS:
            customer = User.objects.get(email=email)
            if customer.bookings.exists():
                continue
            warnings = _seed_customer_bookings(customer)
            for warning in warnings:
                self.stderr.write(self.style.WARNING(f"{email}: {warning}"))
            if not warnings:
                seeded.append(email)
        if seeded:
            summary.append(
                f"bookings: held, confirmed, cancelled and expired for {len(seeded)} customers"
            )

        problems = inventory_problems()
        if problems:
            # Raised inside the transaction: nothing of this run is kept.
            for row in problems:
                self.stderr.write(f"{row['name']}: {'; '.join(row['problems'])}")
            raise CommandError(
                f"Seeding left {len(problems)} events inconsistent (see above); rolled back."
            )
        return summary


def _mail_destination() -> str:
    """Where the e-mails of the running site go, for the summary."""
    if settings.EMAIL_BACKEND != FILE_EMAIL_BACKEND:
        return "e-mail: none sent for the demo data"
    folder = Path(settings.EMAIL_FILE_PATH).resolve()
    if folder.is_relative_to(Path.cwd()):
        folder = f"./{folder.relative_to(Path.cwd())}"
    return f"e-mail: none sent for the demo data; e-mails are written to {folder}/"


# What conferences and workshops ask each attendee (the demo of attendee details).
DEMO_QUESTIONS = {
    C.CONFERENCE: [
        {"label": "Company", "kind": "text", "required": True},
        {"label": "Lunch", "kind": "choice", "required": True,
         "choices": ["Vegetarian", "Non-vegetarian", "Vegan", "Jain"]},
        {"label": "Share my e-mail with sponsors", "kind": "boolean"},
    ],
    C.WORKSHOP: [
        {"label": "Bringing your own laptop?", "kind": "boolean", "required": True},
        {"label": "T-shirt size", "kind": "choice", "choices": ["S", "M", "L", "XL"]},
    ],
}  # fmt: skip


def _seed_events(staff: User, now: dt.datetime) -> tuple[int, int]:
    """Create the demo events that do not exist yet and sell their tickets,
    the sales spread over the last SALES_DAYS days; return how many events
    were created and tickets sold.

    An event whose name exists is left alone: it may have real bookings by now.
    """
    names = [demo.name for demo in EVENTS]
    existing = set(Event.objects.filter(name__in=names).values_list("name", flat=True))
    # Sales from this moment on, each event put on sale just before.
    first_sale = now - dt.timedelta(days=SALES_DAYS - 1)
    today = timezone.localtime(now, IST).date()
    fans = _Fans()
    created = sold = 0
    for demo in EVENTS:
        if demo.name in existing:
            continue
        hour, minute = map(int, demo.at.split(":"))
        starts_at = dt.datetime.combine(
            today + dt.timedelta(days=demo.days), dt.time(hour, minute), tzinfo=IST
        )
        duration = dt.timedelta(hours=demo.hours)
        # event_create only takes a future start, and only a future event can be
        # booked: a past event is created a day ahead and sold...
        create_start = starts_at if starts_at > now else now + dt.timedelta(days=1)
        event = event_services.event_create(
            actor=staff,
            data={
                "name": demo.name,
                "description": demo.description,
                "category": demo.category,
                "venue_name": demo.venue_name,
                "venue_address": demo.venue_address,
                "city": demo.city,
                "state": STATES[demo.city],
                "country": "India",
                "postal_code": demo.postal_code,
                "timezone": DEMO_ZONE,
                "starts_at": create_start,
                "ends_at": create_start + duration,
                "capacity": demo.capacity,
                "price": Decimal(demo.price),
                "currency": "INR",
                "status": demo.status,
                "questions": DEMO_QUESTIONS.get(demo.category, []),
            },
            now=now,
        )
        if demo.status == EventStatus.PUBLISHED:
            tickets = min(round(demo.capacity * demo.sold), MAX_SEEDED_SALES)
            bookings = _sell(event, tickets, fans)
            sold += tickets
            # A past event sold until shortly before it started.
            last_sale = min(now, starts_at - dt.timedelta(hours=2))
            rng = random.Random(demo.name)  # noqa: S311 (demo times, the same every run)
            _spread(bookings, first_sale, last_sale, rng)
        # ...then moved into the past, and every event into the days before its
        # first sale. A seed-only shortcut: no service moves an event backwards
        # in time, and none should.
        Event.objects.filter(pk=event.pk).update(
            starts_at=starts_at,
            ends_at=starts_at + duration,
            created_at=first_sale - dt.timedelta(days=1),
        )
        created += 1
    return created, sold


SEATED_EVENT = "A Carnatic Evening at Shanmukhananda Hall"


def _seed_seated_event(staff: User, now: dt.datetime) -> int | None:
    """A concert with a seating plan (Stalls and Balcony, each its own ticket
    type) and some of its seats sold, side by side as best available gives
    them; returns the tickets sold, or None when the event was there already."""
    if Event.objects.filter(name=SEATED_EVENT).exists():
        return None
    day = timezone.localtime(now, IST).date() + dt.timedelta(days=21)
    starts_at = dt.datetime.combine(day, dt.time(18, 30), tzinfo=IST)
    event = event_services.event_create(
        actor=staff,
        data={
            "name": SEATED_EVENT,
            "description": "Vocal and violin in the great hall: choose your seats on the map.",
            "category": Category.MUSIC,
            "venue_name": "Shanmukhananda Hall",
            "venue_address": "Sion East",
            "city": "Mumbai",
            "state": STATES["Mumbai"],
            "country": "India",
            "postal_code": "400022",
            "timezone": DEMO_ZONE,
            "starts_at": starts_at,
            "ends_at": starts_at + dt.timedelta(hours=3),
            "capacity": 1,  # then its seats'
            "currency": "INR",
            "status": EventStatus.PUBLISHED,
            "ticket_types": [
                {"name": "Stalls", "price": Decimal("800.00")},
                {"name": "Balcony", "price": Decimal("1500.00"), "position": 1},
            ],
        },
        now=now,
    )
    types = {kind.name: kind for kind in event.ticket_types.all()}

    def rows(names: str, seats: int, kind: str, top: int) -> list[dict]:
        return [
            {
                "name": name,
                "seats": [
                    {"number": str(n), "x": n * 30, "y": top + i * 30,
                     "ticket_type": str(types[kind].pk)}
                    for n in range(1, seats + 1)
                ],
            }
            for i, name in enumerate(names)
        ]  # fmt: skip

    sections = [
        {"name": "Stalls", "rows": rows("ABCDEFGH", 16, "Stalls", 0)},
        {"name": "Balcony", "rows": rows("JKL", 12, "Balcony", 300)},
    ]
    seating.seating_replace(actor=staff, event_id=event.pk, sections=sections)
    fans, sold = _Fans(), 0
    for buyer, (kind, quantity) in enumerate([("Stalls", 2), ("Stalls", 4), ("Balcony", 2)] * 5):
        fan = fans[buyer]
        items = [{"ticket_type": types[kind].pk, "quantity": quantity}]
        booking, _ = booking_services.booking_reserve(user=fan, event_id=event.pk, items=items)
        booking_services.booking_pay(user=fan, booking_id=booking.pk, card_number=CARD)
        sold += quantity
    return sold


class _Fans:
    """Demo buyers fan01, fan02, ... created on first use (they cannot log in)."""

    def __init__(self):
        self._users: list[User] = []

    def __getitem__(self, index: int) -> User:
        while len(self._users) <= index:
            number = len(self._users) + 1
            user, created = User.objects.get_or_create(
                email=FAN_EMAIL.format(number), defaults={"name": f"Demo Fan {number:02d}"}
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            self._users.append(user)
        return self._users[index]


def _sell(event: Event, tickets: int, fans: _Fans) -> list[Booking]:
    """Sell ``tickets`` of ``event`` to demo fans, one confirmed booking each,
    through the booking services; returns the bookings."""
    bookings = []
    sold = 0
    while sold < tickets:
        buyer = len(bookings)
        quantity = min(QUANTITIES[buyer % len(QUANTITIES)], tickets - sold)
        fan = fans[buyer]
        booking, _ = booking_services.booking_reserve(
            user=fan, event_id=event.pk, quantity=quantity
        )
        bookings.append(
            booking_services.booking_pay(user=fan, booking_id=booking.pk, card_number=CARD)
        )
        sold += quantity
    return bookings


# What moves with a booking when it is moved back in time.
BOOKING_TIMES = ["created_at", "expires_at", "confirmed_at", "cancelled_at", "expired_at"]
RELATED_TIMES = [
    (Payment, ["created_at", "updated_at"]),
    (Refund, ["created_at", "updated_at"]),
    (Ticket, ["created_at", "voided_at", "checked_in_at"]),
]


def _spread(bookings: list[Booking], first: dt.datetime, last: dt.datetime, rng) -> None:
    """Move ``bookings``, just made through the services, back to random
    moments from ``first`` to ``last`` (in their order), each with its
    payments, refunds and tickets, so every step keeps its order and gaps.

    A seed-only shortcut, like moving past events: the services write the
    present, and demo sales need a history.
    """
    if not bookings:
        return
    moments = sorted(first + (last - first) * rng.random() for _ in bookings)
    shift = {b.pk: b.created_at - moment for b, moment in zip(bookings, moments, strict=True)}
    _shift_times(bookings, BOOKING_TIMES, lambda row: shift[row.pk])
    for model, fields in RELATED_TIMES:
        rows = list(model.objects.filter(booking_id__in=list(shift)))
        _shift_times(rows, fields, lambda row: shift[row.booking_id])


def _shift_times(rows: list, fields: list[str], delta_of) -> None:
    for row in rows:
        delta = delta_of(row)
        for field in fields:
            value = getattr(row, field)
            if value is not None:
                setattr(row, field, value - delta)
    if rows:
        type(rows[0]).objects.bulk_update(rows, fields, batch_size=500)


def _seed_customer_bookings(customer: User) -> list[str]:
    """Give a demo customer one booking in each state, each on its own event:
    an active hold, a confirmed booking, a confirmed booking cancelled with a
    (full, by the tiers) refund, and a hold that lapsed and was released.
    Returns warnings for any that could not be made."""
    now = timezone.now()
    # Far enough ahead that cancelling refunds in full, and with room to spare,
    # so that the nearly full demo events stay as they are.
    candidates = list(
        Event.objects.with_available(now)
        .filter(
            status=EventStatus.PUBLISHED,
            booking_enabled=True,
            seated=False,  # its two types need items: the demo buys by quantity
            price__gt=0,
            starts_at__gt=now + dt.timedelta(days=10),
            available_now__gte=10,
        )
        .order_by("starts_at", "id")
    )
    if not candidates:
        return ["no event open for demo bookings"]
    offset = [email for email, _, _ in CUSTOMERS].index(customer.email) * 4
    held, confirmed, cancelled, expired = (
        candidates[(offset + step) % len(candidates)] for step in range(4)
    )
    warnings = []

    def attempt(label: str, make) -> None:
        try:
            make()
        except NuvioError as error:
            warnings.append(f"no {label} booking: {error.message}")

    def reserve(event: Event, **kwargs) -> Booking:
        booking, _ = booking_services.booking_reserve(
            user=customer, event_id=event.pk, quantity=2, **kwargs
        )
        return booking

    def pay(booking: Booking) -> Booking:
        return booking_services.booking_pay(user=customer, booking_id=booking.pk, card_number=CARD)

    attempt("held", lambda: reserve(held))
    attempt("confirmed", lambda: pay(reserve(confirmed)))
    attempt(
        "cancelled",
        lambda: booking_services.booking_cancel(
            user=customer, booking_id=pay(reserve(cancelled)).pk
        ),
    )
    # Reserved in the past, so the hold has lapsed; releasing it is the beat
    # task's job, done here at once.
    lapsed_at = now - dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 60)
    attempt("expired", lambda: reserve(expired, now=lapsed_at))
    booking_services.holds_release_expired(now=now)
    return warnings
