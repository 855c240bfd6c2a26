/*
 * The page's upload zones (layouts/controls.py, upload_zone): a file chosen or dropped is sent
 * as it is, its bytes streamed from disk by the browser, to the upload route
 * (POST <prefix>_topomaps/upload/<kind>?name=<file name>, callbacks/uploads.py), never read
 * into the page. dcc.Upload would read it whole into a base64 string, which a large file
 * crashed the tab with, and which the server had to decode in memory.
 *
 * A zone is a <label class="upload" data-kind data-target data-message data-max-bytes
 * data-accept>; this file gives it its file input (in its empty span.upload-input), shows the
 * progress in the zone's message (data-message), refuses a file over data-max-bytes before
 * sending anything, and hands the route's answer to the zone's dcc.Store (data-target),
 * whose callback selects the file and says what was stored, or why not.
 */
(function () {
  "use strict";

  var MB = 1024 * 1024;

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function say(zone, text, className) {
    setProps(zone.dataset.message, {
      children: {
        type: "Span",
        namespace: "dash_html_components",
        props: { children: text, className: className || "msg-ok" },
      },
    });
  }

  function megabytes(bytes) {
    return (bytes / MB).toFixed(1);
  }

  function prefix() {
    try {
      var config = JSON.parse(document.getElementById("_dash-config").textContent);
      return config.requests_pathname_prefix || "/";
    } catch (e) {
      return "/";
    }
  }

  function answer(zone, reply) {
    reply.at = Date.now(); // the same answer twice is still news
    setProps(zone.dataset.target, { data: reply });
  }

  function send(zone, file) {
    var limit = Number(zone.dataset.maxBytes || 0);
    if (limit && file.size > limit) {
      answer(zone, {
        ok: false,
        kind: zone.dataset.kind,
        message:
          file.name + " refused: it is " + megabytes(file.size) + " MB, over the " +
          Number((limit / MB).toPrecision(3)) + " MB upload limit (MAX_UPLOAD_MB); " +
          "nothing was sent.",
      });
      return;
    }
    var xhr = new XMLHttpRequest();
    var url = prefix() + "_topomaps/upload/" + encodeURIComponent(zone.dataset.kind) +
      "?name=" + encodeURIComponent(file.name);
    var shown = -1;
    xhr.open("POST", url);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = function (event) {
      var done = event.lengthComputable ? Math.floor((100 * event.loaded) / event.total) : 0;
      if (done !== shown) {
        shown = done;
        say(zone, "Uploading " + file.name + " (" + megabytes(file.size) + " MB): " + done + " %");
      }
    };
    xhr.upload.onload = function () {
      say(zone, "Checking " + file.name + "…");
    };
    xhr.onload = function () {
      var reply;
      try {
        reply = JSON.parse(xhr.responseText);
      } catch (e) {
        reply = {
          ok: false,
          message: file.name + " could not be stored (HTTP " + xhr.status + ": " +
            xhr.responseText.slice(0, 200).trim() + ")",
        };
      }
      reply.kind = zone.dataset.kind;
      answer(zone, reply);
    };
    xhr.onerror = function () {
      answer(zone, {
        ok: false,
        kind: zone.dataset.kind,
        message: file.name + " could not be uploaded: the connection to the server was lost.",
      });
    };
    say(zone, "Uploading " + file.name + " (" + megabytes(file.size) + " MB)…");
    xhr.send(file);
  }

  function zoneOf(node) {
    return node && node.closest ? node.closest("label.upload[data-kind]") : null;
  }

  // Every zone gets its file input, also the zones of tabs rendered later.
  function equip(root) {
    var slots = root.querySelectorAll("label.upload[data-kind] span.upload-input");
    slots.forEach(function (slot) {
      if (slot.querySelector("input")) {
        return;
      }
      var input = document.createElement("input");
      input.type = "file";
      input.accept = zoneOf(slot).dataset.accept || "";
      slot.appendChild(input);
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    var zone = zoneOf(input);
    if (!zone || input.type !== "file" || !input.files || !input.files.length) {
      return;
    }
    var file = input.files[0];
    input.value = ""; // choosing the same file again is a new upload
    send(zone, file);
  });

  // A file dropped beside a zone must not replace the page with the file.
  function carriesFiles(event) {
    var types = event.dataTransfer ? event.dataTransfer.types : null;
    return types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }

  document.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    var zone = zoneOf(event.target);
    document.querySelectorAll("label.upload.upload-active").forEach(function (other) {
      if (other !== zone) {
        other.classList.remove("upload-active");
      }
    });
    if (zone) {
      zone.classList.add("upload-active");
    }
    event.dataTransfer.dropEffect = zone ? "copy" : "none";
  });

  document.addEventListener("dragleave", function (event) {
    var zone = zoneOf(event.target);
    if (zone && !zone.contains(event.relatedTarget)) {
      zone.classList.remove("upload-active");
    }
  });

  document.addEventListener("drop", function (event) {
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    var zone = zoneOf(event.target);
    if (!zone) {
      return;
    }
    zone.classList.remove("upload-active");
    if (event.dataTransfer.files.length) {
      send(zone, event.dataTransfer.files[0]);
    }
  });

  var pending = false;
  new MutationObserver(function () {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        equip(document);
      });
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
  equip(document);
})();
