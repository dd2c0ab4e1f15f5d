// The evaluation page's timeline: markers at the comments' points, the muted segments and the
// player's position drawn over the call's length; a click on the timeline chooses where the next
// comment goes (01:23); a comment's time seeks the player there and plays. No inline script (CSP).
(function () {
  "use strict";

  var timeline = document.getElementById("evaluation-timeline");
  if (!timeline) {
    return;
  }
  var durationMs = parseInt(timeline.dataset.durationMs, 10) || 0;
  var player = document.getElementById("recording-player");
  var playhead = timeline.querySelector(".evaluation-playhead");

  function timecode(ms) {
    var seconds = Math.floor(ms / 1000);
    var minutes = Math.floor(seconds / 60);
    return String(minutes).padStart(2, "0") + ":" + String(seconds % 60).padStart(2, "0");
  }

  function percent(ms) {
    if (!durationMs) {
      return 0;
    }
    return Math.min(100, Math.max(0, (ms / durationMs) * 100));
  }

  // Positions are set through the CSSOM: the strict CSP refuses style attributes in the markup.
  timeline.querySelectorAll(".evaluation-marker").forEach(function (marker) {
    marker.style.left = percent(parseInt(marker.dataset.positionMs, 10)) + "%";
  });
  timeline.querySelectorAll(".evaluation-muted").forEach(function (segment) {
    var start = parseFloat(segment.dataset.startS) * 1000;
    var end = parseFloat(segment.dataset.endS) * 1000;
    segment.style.left = percent(start) + "%";
    segment.style.width = Math.max(0, percent(end) - percent(start)) + "%";
  });

  var positionInput = document.getElementById("comment-position-ms");
  var positionLabel = document.getElementById("comment-position");
  var body = document.getElementById("comment-body");
  var cursor = null;

  if (positionInput && timeline.classList.contains("evaluation-timeline-active")) {
    timeline.addEventListener("click", function (event) {
      var box = timeline.getBoundingClientRect();
      var fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      var ms = Math.round(fraction * durationMs);
      positionInput.value = String(ms);
      positionLabel.textContent = timecode(ms);
      if (!cursor) {
        cursor = document.createElement("span");
        cursor.className = "evaluation-cursor";
        timeline.appendChild(cursor);
      }
      cursor.style.left = percent(ms) + "%";
      if (body) {
        body.focus();
      }
    });
  }

  document.querySelectorAll("button.evaluation-seek").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!player) {
        return;
      }
      player.currentTime = parseInt(button.dataset.positionMs, 10) / 1000;
      var started = player.play();
      if (started && started.catch) {
        started.catch(function () { /* a refused autoplay leaves the player paused at the point */ });
      }
    });
  });

  if (player && playhead) {
    player.addEventListener("timeupdate", function () {
      playhead.hidden = false;
      playhead.style.left = percent(player.currentTime * 1000) + "%";
    });
  }
})();
