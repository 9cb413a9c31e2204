// The event page's live total: asks the quote endpoint what the chosen
// quantities (and the applied promo code) cost, before anything is held.
// Without it the page still works: the prices are on the page and the
// booking page shows the total. It also keeps the chosen quantities when a
// promo code is applied (that form is sent by GET and reloads the page).
(function () {
  "use strict";
  var total = document.getElementById("book-total");
  if (!total) { return; }
  var form = total.closest("form");
  var selects = form.querySelectorAll("select[data-ticket-type]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var eventId = form.querySelector("input[name=event]").value;
  var promo = form.querySelector("input[name=promo_code]");
  var asked = 0;

  function chosen() {
    var items = [];
    for (var i = 0; i < selects.length; i++) {
      var quantity = parseInt(selects[i].value, 10);
      if (quantity > 0) {
        items.push({ticket_type: selects[i].getAttribute("data-ticket-type"), quantity: quantity});
      }
    }
    return items;
  }

  function show(text, problem) {
    total.textContent = text;
    total.classList.toggle("text-danger", Boolean(problem));
    total.hidden = !text;
  }

  function money(amount, currency) { return currency + " " + amount; }

  function describe(quote) {
    var text = "Total: " + money(quote.total_price, quote.currency);
    if (parseFloat(quote.discount) > 0) {
      text += " (" + money(quote.subtotal, quote.currency) + " less " +
        money(quote.discount, quote.currency) + " with your code)";
    }
    return text;
  }

  function update() {
    var items = chosen();
    var mine = ++asked;
    if (!items.length) { show("", false); return; }
    var body = {event: eventId, items: items};
    if (promo && promo.value) { body.promo_code = promo.value; }
    fetch(total.getAttribute("data-quote-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        return {status: response.status, data: data};
      });
    }).then(function (answer) {
      if (mine !== asked) { return; }  // a newer choice is on its way
      if (answer.status === 200) {
        show(describe(answer.data), false);
      } else if ((answer.status === 400 || answer.status === 409) && answer.data.error) {
        // What booking these tickets would meet: sold out, over the limit...
        show(answer.data.error.message, true);
      } else {
        show("", false);  // anything else: the Book button still says
      }
    }).catch(function () {
      if (mine === asked) { show("", false); }  // the booking page will show the total
    });
  }

  for (var i = 0; i < selects.length; i++) {
    selects[i].addEventListener("change", update);
  }

  // Applying a promo code reloads the page: carry the chosen quantities along.
  var promoForm = document.getElementById("promo-form");
  if (promoForm) {
    promoForm.addEventListener("submit", function () {
      var items = chosen();
      for (var i = 0; i < items.length; i++) {
        var pairs = [["ticket_type", items[i].ticket_type], ["quantity", items[i].quantity]];
        for (var j = 0; j < pairs.length; j++) {
          var input = document.createElement("input");
          input.type = "hidden";
          input.name = pairs[j][0];
          input.value = pairs[j][1];
          promoForm.appendChild(input);
        }
      }
    });
  }

  update();
})();
