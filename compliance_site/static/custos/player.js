// The recording's players (audio.custos-player): they load nothing until play is pressed
// (preload="none"), then report the time ranges actually played to data-heard-url, under the
// page's playback token, so the access event says what was heard, not what was buffered.
// Reported while playing (every 30 s, which also keeps a long listen one playback), and on
// pause, end and leaving the page. A player whose audio is refused (503: the muted version is
// being prepared) shows its data-unavailable text under it instead of failing silently.
(function () {
  "use strict";
  var EVERY_MS = 30000;

  function played(audio) {
    var ranges = [];
    for (var i = 0; i < audio.played.length; i += 1) {
      ranges.push([audio.played.start(i), audio.played.end(i)]);
    }
    return ranges;
  }

  var sent = new WeakMap(); // the last report of each player: one that says nothing new is not sent

  function report(audio) {
    var heard = JSON.stringify(played(audio));
    if (!audio.played.length || sent.get(audio) === heard) {
      return;
    }
    sent.set(audio, heard);
    var body = new FormData();
    body.append("csrfmiddlewaretoken", audio.dataset.csrf);
    body.append("playback", audio.dataset.playback);
    body.append("heard", heard);
    // sendBeacon survives the page being closed; fetch is the fallback where it is missing.
    if (!(navigator.sendBeacon && navigator.sendBeacon(audio.dataset.heardUrl, body))) {
      fetch(audio.dataset.heardUrl, { method: "POST", body: body, credentials: "same-origin", keepalive: true });
    }
  }

  function unavailable(audio) {
    if (!audio.dataset.unavailable || audio.dataset.unavailableShown) {
      return;
    }
    audio.dataset.unavailableShown = "1";
    var note = document.createElement("p");
    note.className = "errornote custos-player-unavailable";
    note.textContent = audio.dataset.unavailable;
    audio.insertAdjacentElement("afterend", note);
  }

  document.querySelectorAll("audio.custos-player").forEach(function (audio) {
    audio.addEventListener("error", function () { unavailable(audio); });
  });

  document.querySelectorAll("audio.custos-player[data-heard-url]").forEach(function (audio) {
    var last = 0;
    audio.addEventListener("pause", function () { report(audio); });
    audio.addEventListener("ended", function () { report(audio); });
    audio.addEventListener("timeupdate", function () {
      var now = Date.now();
      if (!audio.paused && now - last >= EVERY_MS) {
        last = now;
        report(audio);
      }
    });
    window.addEventListener("pagehide", function () { report(audio); });
  });
})();
