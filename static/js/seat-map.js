// The seat map of a seated event's page (templates/events/_seat_map.html):
// picking seats, and their statuses kept fresh while the page is open.
//
// Keyboard pattern: every seat is a role="checkbox" with aria-checked (chosen
// or not) and aria-disabled (it cannot be picked: taken, not on sale, or the
// person is not logged in). The map is one stop in the Tab order, with a
// roving tabindex as in the WAI-ARIA grid pattern: the seat last moved to
// has tabindex="0", every other one -1. The arrow keys move to the nearest
// seat in that direction (taken seats too, so that they can be heard), Home
// and End to the ends of the row; Enter or Space chooses a free seat or lets
// it go. A click does the same. Pointing at a seat or moving to it shows its
// label, type, price and status in a tooltip for the eye (a screen reader
// reads its aria-label, which says the same).
//
// The chosen seats are listed in the Book form (#seat-form) with their total
// and sent as its `seats` fields. Every few seconds (data-refresh-seconds,
// jittered, and not while the tab is hidden) the statuses come again from
// GET /api/events/{id}/seats/; a chosen seat that someone else took meanwhile
// is let go, marked, and the person is told in the status line under the map.
(function () {
  "use strict";
  var root = document.getElementById("seat-map");
  if (!root) { return; }
  var seats = Array.prototype.slice.call(root.querySelectorAll("circle.seat[data-seat]"));
  if (!seats.length) { return; }  // a large plan's overview: its sections are links

  var REFRESH_MS = (parseInt(root.getAttribute("data-refresh-seconds"), 10) || 5) * 1000;
  var JITTER_MS = REFRESH_MS * 0.4;
  var LONGEST_WAIT_MS = 60000;
  var STATUSES = ["free", "held", "sold", "blocked"];
  var WORDS = {free: "free", held: "on hold", sold: "sold", blocked: "not for sale"};

  var svg = root.querySelector("svg.seat-map-svg");
  var tip = document.getElementById("seat-tip");
  var statusLine = document.getElementById("seat-map-status");
  var form = document.getElementById("seat-form");
  var pickable = root.getAttribute("data-pickable") === "true";
  var most = parseInt(root.getAttribute("data-most"), 10) || 1;
  var currency = root.getAttribute("data-currency");

  // Ticket types, by their colour index, from the legend.
  var types = {};
  var typeByUuid = {};
  Array.prototype.forEach.call(document.querySelectorAll("#seat-types li[data-type]"), function (li) {
    var type = {
      name: li.getAttribute("data-name"),
      cents: cents(li.getAttribute("data-price")),
      priceText: li.getAttribute("data-price-text"),
      onSale: li.getAttribute("data-on-sale") === "true",
      freeCount: li.querySelector(".seat-type-free")
    };
    types[li.getAttribute("data-type")] = type;
    typeByUuid[li.getAttribute("data-type-id")] = type;
  });

  var byId = {};
  var rows = {};
  var chosen = [];  // seat ids, in the order they were chosen
  seats.forEach(function (seat) {
    byId[seat.getAttribute("data-seat")] = seat;
    var row = seat.getAttribute("data-row");
    (rows[row] = rows[row] || []).push(seat);
    if (seat.getAttribute("aria-checked") === "true") { chosen.push(seat.getAttribute("data-seat")); }
  });

  // --- money, in whole cents: no float sums ----------------------------------

  function cents(amount) {
    var parts = String(amount || "0").split(".");
    var fraction = ((parts[1] || "") + "00").slice(0, 2);
    return parseInt(parts[0], 10) * 100 + parseInt(fraction, 10);
  }

  function money(total) {
    if (!total) { return "Free"; }
    var fraction = String(total % 100);
    return Math.floor(total / 100) + "." + (fraction.length < 2 ? "0" : "") + fraction + " " + currency;
  }

  // --- a seat's state ---------------------------------------------------------

  function statusOf(seat) {
    for (var i = 0; i < STATUSES.length; i++) {
      if (seat.classList.contains("is-" + STATUSES[i])) { return STATUSES[i]; }
    }
    return "free";
  }

  function typeOf(seat) { return types[seat.getAttribute("data-type")]; }

  function canPick(seat) {
    return pickable && typeOf(seat).onSale && statusOf(seat) === "free";
  }

  function describe(seat) {
    var type = typeOf(seat);
    var status = statusOf(seat);
    var words = status === "free" && !type.onSale ? "not on sale now" : WORDS[status];
    return seat.getAttribute("data-label") + ", " + type.name + ", " + type.priceText + ", " + words;
  }

  function setStatus(seat, status) {
    STATUSES.forEach(function (name) { seat.classList.toggle("is-" + name, name === status); });
    if (status === "free") { seat.classList.remove("is-lost"); }
    seat.setAttribute("aria-disabled", canPick(seat) ? "false" : "true");
    seat.setAttribute("aria-label", describe(seat));
  }

  function say(text, problem) {
    statusLine.textContent = text;
    statusLine.classList.toggle("text-danger", Boolean(problem));
    statusLine.classList.toggle("fw-semibold", Boolean(problem));
  }

  // --- choosing ------------------------------------------------------------------

  function setChosen(seat, on) {
    var id = seat.getAttribute("data-seat");
    var at = chosen.indexOf(id);
    if (on && at < 0) { chosen.push(id); }
    if (!on && at >= 0) { chosen.splice(at, 1); }
    seat.classList.toggle("is-chosen", on);
    seat.setAttribute("aria-checked", on ? "true" : "false");
  }

  function toggle(seat) {
    var label = seat.getAttribute("data-label");
    if (seat.getAttribute("aria-checked") === "true") {
      setChosen(seat, false);
      summarise();
      say(label + " let go. " + totalText());
      return;
    }
    if (!canPick(seat)) {
      if (!pickable) {
        say(root.getAttribute("data-unpickable"), false);
      } else {
        say(describe(seat) + ": it cannot be chosen.", false);
      }
      return;
    }
    if (chosen.length >= most) {
      say("You can choose up to " + most + " seat" + (most === 1 ? "" : "s") + " in one booking.", true);
      return;
    }
    setChosen(seat, true);
    summarise();
    say(label + " chosen. " + totalText());
  }

  function total() {
    return chosen.reduce(function (sum, id) { return sum + typeOf(byId[id]).cents; }, 0);
  }

  function totalText() {
    if (!chosen.length) { return "No seats chosen."; }
    return chosen.length + " seat" + (chosen.length === 1 ? "" : "s") + ", total " + money(total()) + ".";
  }

  // The Book form: the chosen seats listed, each with a button to let it go,
  // their total, and one hidden `seats` field per seat.
  function summarise() {
    if (!form) { return; }
    var list = form.querySelector("#seat-choice");
    list.textContent = "";
    chosen.forEach(function (id) {
      var seat = byId[id];
      var type = typeOf(seat);
      var item = document.createElement("li");
      item.className = "d-flex justify-content-between align-items-center gap-2 py-1 border-top";
      item.setAttribute("data-seat", id);
      var text = document.createElement("span");
      var name = document.createElement("span");
      name.className = "fw-semibold";
      name.textContent = seat.getAttribute("data-label");
      text.appendChild(name);
      text.appendChild(document.createTextNode(" · " + type.name + ", " + type.priceText));
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-link btn-sm p-0";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + seat.getAttribute("data-label"));
      remove.addEventListener("click", function () {
        setChosen(seat, false);
        summarise();
        say(seat.getAttribute("data-label") + " let go. " + totalText());
        (form.querySelector("#seat-choice button") || seat).focus();
      });
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = "seats";
      field.value = id;
      item.appendChild(text);
      item.appendChild(remove);
      item.appendChild(field);
      list.appendChild(item);
    });
    form.querySelector("#seat-choice-empty").hidden = chosen.length > 0;
    form.querySelector("#seat-total").textContent = chosen.length ? totalText().slice(0, -1) : "";
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      if (!chosen.length) {
        event.preventDefault();
        say("Choose at least one free seat on the map first, or book the best available.", true);
        focusSeat(current());
      }
    });
  }

  // --- moving around: a roving tabindex ---------------------------------------

  function current() {
    return svg.querySelector("circle.seat[tabindex='0']") || seats[0];
  }

  function focusSeat(seat) {
    var before = current();
    if (before !== seat) { before.setAttribute("tabindex", "-1"); }
    seat.setAttribute("tabindex", "0");
    seat.focus();
  }

  function centre(seat) {
    return {x: parseFloat(seat.getAttribute("cx")), y: parseFloat(seat.getAttribute("cy"))};
  }

  // The nearest seat in a direction: ahead along it, with a seat off to the
  // side counting three times its offset (so Right stays in the row and
  // crosses an aisle, and Down goes to the seat behind, not beside).
  function nearest(from, dx, dy) {
    var start = centre(from);
    var least = parseFloat(from.getAttribute("r")) * 0.5;
    var best = null;
    var bestScore = Infinity;
    for (var i = 0; i < seats.length; i++) {
      var point = centre(seats[i]);
      var along = (point.x - start.x) * dx + (point.y - start.y) * dy;
      if (along <= least) { continue; }
      var across = Math.abs((point.x - start.x) * dy + (point.y - start.y) * dx);
      var score = along + 3 * across;
      if (score < bestScore) { bestScore = score; best = seats[i]; }
    }
    return best;
  }

  var MOVES = {ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1]};

  svg.addEventListener("keydown", function (event) {
    var seat = event.target;
    if (!seat.hasAttribute || !seat.hasAttribute("data-seat")) { return; }
    var next = null;
    if (MOVES[event.key]) {
      next = nearest(seat, MOVES[event.key][0], MOVES[event.key][1]);
    } else if (event.key === "Home" || event.key === "End") {
      var row = rows[seat.getAttribute("data-row")];
      next = event.key === "Home" ? row[0] : row[row.length - 1];
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      toggle(seat);
      showTip(seat);
      return;
    } else {
      return;
    }
    event.preventDefault();
    if (next) { focusSeat(next); }
  });

  svg.addEventListener("click", function (event) {
    var seat = event.target;
    if (!seat.hasAttribute || !seat.hasAttribute("data-seat")) { return; }
    focusSeat(seat);
    toggle(seat);
    showTip(seat);
  });

  // --- the tooltip ---------------------------------------------------------------

  function showTip(seat) {
    var frame = tip.parentNode.getBoundingClientRect();
    var box = seat.getBoundingClientRect();
    tip.textContent = describe(seat) + (seat.getAttribute("aria-checked") === "true" ? " (chosen)" : "");
    tip.hidden = false;
    // Centred above the seat, inside the map's frame (which may scroll sideways).
    var scrolled = tip.parentNode.scrollLeft;
    var half = tip.offsetWidth / 2;
    var x = box.left - frame.left + box.width / 2;
    x = Math.max(half, Math.min(x, frame.width - half));
    tip.style.left = (x + scrolled) + "px";
    tip.style.top = (box.top - frame.top) + "px";
  }

  function hideTip() { tip.hidden = true; }

  function seatEvent(handler) {
    return function (event) {
      var seat = event.target;
      if (seat.hasAttribute && seat.hasAttribute("data-seat")) { handler(seat); }
    };
  }

  svg.addEventListener("mouseover", seatEvent(showTip));
  svg.addEventListener("mouseout", seatEvent(function (seat) {
    if (document.activeElement !== seat) { hideTip(); }
  }));
  svg.addEventListener("focusin", seatEvent(showTip));
  svg.addEventListener("focusout", hideTip);

  // --- the refresh ------------------------------------------------------------------

  var url = root.getAttribute("data-seats-url");
  var timer = null;
  var asking = false;
  var wait = REFRESH_MS;
  var newest = 0;  // updated_at of the newest answer applied

  function apply(answer) {
    var when = Date.parse(answer.updated_at) || 0;
    if (when && when < newest) { return; }  // an older answer overtaken by a newer one
    newest = when;
    var lost = [];
    var free = {};
    answer.seats.forEach(function (item) {
      if (item.status === "free") { free[item.ticket_type] = (free[item.ticket_type] || 0) + 1; }
      var seat = byId[item.id];
      if (!seat || statusOf(seat) === item.status || STATUSES.indexOf(item.status) < 0) { return; }
      if (item.status !== "free" && seat.getAttribute("aria-checked") === "true") {
        setChosen(seat, false);
        seat.classList.add("is-lost");
        lost.push(seat.getAttribute("data-label"));
      }
      setStatus(seat, item.status);
    });
    Object.keys(typeByUuid).forEach(function (id) {
      var count = typeByUuid[id].freeCount;
      if (count) { count.textContent = String(free[id] || 0); }
    });
    if (lost.length) {
      summarise();
      say(lost.join(", ") + (lost.length === 1 ? " was" : " were") +
        " just taken by someone else and " + (lost.length === 1 ? "is" : "are") +
        " no longer in your choice. " + totalText(), true);
    }
    if (document.activeElement && document.activeElement.hasAttribute &&
        document.activeElement.hasAttribute("data-seat") && !tip.hidden) {
      showTip(document.activeElement);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) { timer = setTimeout(refresh, wait + Math.random() * JITTER_MS); }
  }

  function refresh() {
    if (asking || document.hidden) { return; }
    asking = true;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) {
          // Throttled or busy: wait as long as asked, else twice as long as before.
          var after = parseInt(response.headers.get("Retry-After"), 10);
          wait = Math.min(after > 0 ? after * 1000 : wait * 2, LONGEST_WAIT_MS);
          return null;
        }
        wait = REFRESH_MS;
        return response.json();
      })
      .then(function (answer) { if (answer && answer.seats) { apply(answer); } })
      .catch(function () { wait = Math.min(wait * 2, LONGEST_WAIT_MS); })
      .then(function () { asking = false; schedule(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      refresh();  // at once: the page may have been hidden for long
    }
  });

  summarise();
  schedule();
})();
