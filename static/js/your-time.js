// Deadlines in the viewer's own time. The page says each <time data-your-time>
// in the event's zone, with its abbreviation ("Mon 14 Dec 2026, 19:42 IST"),
// which is what people without JavaScript read; this says it again from the
// element's datetime (UTC) in this computer's zone and format: "19:42 (your
// time)", or "00:05 on Tue 15 Dec 2026 (your time)" on another day than
// today. The event's time stays in the element's title.
//
// waiting-room.js, whose times change without a reload, shows them through
// window.nuvioYourTime.
(function () {
  "use strict";

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
      a.getDate() === b.getDate();
  }

  // `now` (ms) says which day is today: the server's clock, where the page knows it.
  function text(when, now) {
    var date = new Date(when);
    var words = date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    if (!sameDay(date, new Date(now === undefined ? Date.now() : now))) {
      words += " on " + date.toLocaleDateString([], {
        weekday: "short", day: "numeric", month: "short", year: "numeric"
      });
    }
    return words + " (your time)";
  }

  function show(time, now) {
    var when = Date.parse(time.getAttribute("datetime"));
    if (!when) { return; }
    // Once: the server's words are the event's time; a later datetime is not.
    if (time.getAttribute("data-your-time") !== "shown") {
      var eventTime = time.textContent.replace(/\s+/g, " ").trim();
      if (eventTime) { time.title = "At the event: " + eventTime; }
      time.setAttribute("data-your-time", "shown");
    }
    time.textContent = text(when, now);
  }

  window.nuvioYourTime = {text: text, show: show};

  var times = document.querySelectorAll("time[data-your-time]");
  for (var i = 0; i < times.length; i++) { show(times[i]); }
})();
