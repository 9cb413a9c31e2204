// Counts a hold down to its expiry on the booking page. The page says the
// expiry time in plain text; this only adds the ticking clock.
(function () {
  "use strict";
  var region = document.getElementById("hold-countdown");
  if (!region) { return; }
  // Count from the server's view of the time left, so a wrong clock on this
  // computer does not move the deadline.
  var secondsLeft = parseInt(region.getAttribute("data-seconds-left"), 10);
  var deadline = isNaN(secondsLeft)
    ? Date.parse(region.getAttribute("data-expires-at"))
    : Date.now() + secondsLeft * 1000;
  var clock = region.querySelector("[data-countdown-clock]");
  var timer = region.querySelector("[role=timer]");
  var announce = region.querySelector("[data-countdown-announce]");
  var expired = region.querySelector("[data-countdown-expired]");
  var deadlineText = region.querySelector("[data-countdown-deadline]");
  var payButton = document.getElementById("pay-button");
  var cardField = document.getElementById("id_card_number");
  var spoken = {};
  var interval;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (left <= 0) {
      window.clearInterval(interval);
      clock.hidden = true;
      deadlineText.hidden = true;
      announce.textContent = "";
      expired.textContent = "This hold has expired. The tickets went back on sale.";
      region.classList.remove("alert-warning");
      region.classList.add("alert-danger");
      if (payButton) { payButton.disabled = true; }
      if (cardField) { cardField.disabled = true; }
      return;
    }
    var minutes = Math.floor(left / 60);
    timer.textContent = minutes + ":" + pad(left % 60);
    // Screen readers hear a few milestones, not every second.
    var marks = [1, 2, 5, 10];
    for (var i = 0; i < marks.length; i++) {
      if (left <= marks[i] * 60) {
        if (!spoken[marks[i]]) {
          for (var j = i; j < marks.length; j++) { spoken[marks[j]] = true; }
          var spokenMinutes = Math.max(1, Math.round(left / 60));
          announce.textContent = spokenMinutes +
            (spokenMinutes === 1 ? " minute" : " minutes") + " left to pay.";
        }
        break;
      }
    }
  }

  clock.hidden = false;
  tick();
  interval = window.setInterval(tick, 1000);
})();
