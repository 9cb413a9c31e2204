// Camera scanning for the check-in page: a decoded QR code fills the code box
// and submits the form, exactly as if it had been typed.
(function () {
  "use strict";
  var form = document.getElementById("checkin-form");
  var toggle = document.getElementById("camera-toggle");
  var preview = document.getElementById("camera");
  var code = document.getElementById("id_code");
  if (!form || !toggle || !code || typeof Html5Qrcode === "undefined") return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;

  var scanner = null;
  toggle.hidden = false;
  code.focus();

  function stop() {
    if (scanner) {
      scanner.stop().catch(function () {});
      scanner = null;
    }
    preview.hidden = true;
    toggle.textContent = "Scan with camera";
  }

  toggle.addEventListener("click", function () {
    if (scanner) { stop(); return; }
    preview.hidden = false;
    toggle.textContent = "Stop camera";
    scanner = new Html5Qrcode("camera");
    scanner.start(
      { facingMode: "environment" },
      { fps: 10, qrbox: 250 },
      function (text) {
        stop();
        code.value = text;
        form.submit();
      },
      function () {}
    ).catch(function (err) {
      stop();
      preview.hidden = false;
      preview.textContent = "The camera could not be started: " + err;
    });
  });
})();
