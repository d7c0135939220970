#!/usr/bin/env bash
# Takes the README screenshots of `confab gui` in a real window under Xvfb:
#   docs/screenshots/login.png    the login screen
#   docs/screenshots/room.png     a busy lobby (history, live messages, the online list)
#   docs/screenshots/private.png  a private conversation tab
#   docs/screenshots/transfer.png a download in progress, with the transfer inspector open
#
# Run by hand from anywhere in the repo (not in CI): `bash scripts/screenshots.sh`.
# It installs the Debian packages it needs (Xvfb, Mesa's software OpenGL, ImageMagick, xdotool),
# builds `confab`, starts a server on a free port with a throwaway data directory, has a few
# scripted people (`confab chat` fed through pipes) talk, drives the GUI with xdotool, and
# cleans up every process it started. Safe to run again: the PNGs are simply overwritten.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/docs/screenshots
WIDTH=980
HEIGHT=640
# Where things are in the window (x y), for the clicks of the transfer screenshot.
FILES_TAB="880 18"
SLIDES_DOWNLOAD="934 174"
DETAILS="723 557"

log() { printf '[screenshots] %s\n' "$*" >&2; }

# --- packages -------------------------------------------------------------------------------
PACKAGES=(xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6
          imagemagick xdotool)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    SUDO=""
    [[ $(id -u) == 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# --- build ----------------------------------------------------------------------------------
log "building confab"
cargo build -q -p confab
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/confab
[[ -x $BIN ]] || { log "no binary at $BIN"; exit 1; }

# --- processes, cleaned up on any exit ------------------------------------------------------
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    # Close the chat pipes first so the scripted people quit politely, then stop the rest.
    for fd in 3 4 5 6; do eval "exec $fd>&-" 2>/dev/null || true; done
    sleep 0.3
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A display number nobody uses.
DISPLAY_NUM=99
while [[ -e /tmp/.X11-unix/X$DISPLAY_NUM || -e /tmp/.X$DISPLAY_NUM-lock ]]; do
    DISPLAY_NUM=$((DISPLAY_NUM + 1))
done
export DISPLAY=:$DISPLAY_NUM
Xvfb "$DISPLAY" -screen 0 "${WIDTH}x${HEIGHT}x24" -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done

# Mesa's software renderer: no GPU under Xvfb.
export LIBGL_ALWAYS_SOFTWARE=1
# The GUI remembers the last login in the config dir, and saves downloads in the Downloads
# folder: keep both out of the user's.
export XDG_CONFIG_HOME=$WORK/config
export XDG_DOWNLOAD_DIR=$WORK/downloads
unset CONFAB_SERVER CONFAB_NICK

"$BIN" server --bind 127.0.0.1:0 --data "$WORK/data" >"$WORK/server.out" 2>"$WORK/server.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/^confab server listening on \([^ ]*\).*/\1/p' "$WORK/server.out")
[[ -n $ADDR ]] || { log "the server did not start"; cat "$WORK/server.log" >&2; exit 1; }
export CONFAB_SERVER=$ADDR
log "server on $ADDR, display $DISPLAY"

# A person who stays online: `confab chat` reading from a pipe held open on file descriptor $2.
person() {
    local nick=$1 fd=$2
    mkfifo "$WORK/$nick.in"
    "$BIN" chat --nick "$nick" --history 0 <"$WORK/$nick.in" >/dev/null 2>&1 &
    PIDS+=($!)
    eval "exec $fd>\"\$WORK/\$nick.in\""
}
say() { # say FD TEXT
    printf '%s\n' "$2" >&"$1"
    sleep 0.25
}

# Starts the GUI and waits for its window; sets WINDOW.
start_gui() {
    "$BIN" gui "$@" >"$WORK/gui.log" 2>&1 &
    GUI_PID=$!
    PIDS+=("$GUI_PID")
    WINDOW=""
    for _ in $(seq 100); do
        WINDOW=$(xdotool search --onlyvisible --name '^confab' 2>/dev/null | head -n1 || true)
        [[ -n $WINDOW ]] && break
        sleep 0.1
    done
    [[ -n $WINDOW ]] || { log "no GUI window"; cat "$WORK/gui.log" >&2; exit 1; }
    # No window manager: put the window at the origin, the pointer over it (keyboard focus
    # follows the pointer), and give the first frames time to render.
    xdotool windowmove "$WINDOW" 0 0 windowsize "$WINDOW" "$WIDTH" "$HEIGHT" 2>/dev/null || true
    xdotool mousemove 600 10
    sleep 2
    xdotool windowfocus --sync "$WINDOW" 2>/dev/null || true
    sleep 0.3
}

stop_gui() {
    kill "$GUI_PID" 2>/dev/null || true
    wait "$GUI_PID" 2>/dev/null || true
}

shot() {
    sleep 0.7
    import -window root "$OUT/$1.png"
    log "wrote docs/screenshots/$1.png"
}

mkdir -p "$OUT"

# --- 1. the login screen --------------------------------------------------------------------
start_gui --nick alice
shot login
stop_gui

# --- 2. a busy room -------------------------------------------------------------------------
# A few shared files first (`confab put` logs in briefly as the uploader).
head -c $((48 << 20)) /dev/urandom >"$WORK/lecture-slides.pdf"
head -c $((3 << 20)) /dev/urandom >"$WORK/relay-capture.pcap"
printf '# Week 3 lab\n\n1. Measure the RTT.\n2. Raise the loss.\n' >"$WORK/lab-notes-week3.md"
"$BIN" --nick dave put "$WORK/lecture-slides.pdf" >/dev/null
"$BIN" --nick bob put "$WORK/relay-capture.pcap" >/dev/null
"$BIN" --nick carol put "$WORK/lab-notes-week3.md" >/dev/null
person bob 3
person carol 4
person dave 5
sleep 1
say 3 "morning all! build 412 is green"
say 4 "nice — did the flaky reconnect test finally settle down?"
say 3 "yes, it was the backoff jitter; fixed in the client library"
say 5 "I'm uploading the lecture slides later today"
say 4 "great, thanks dave"
say 3 "reminder: standup in 10 minutes"
say 5 "can someone review my PR before then? it's the history paging one"
say 4 "on it"
say 4 "left two comments, otherwise looks good to me"
say 5 "thanks! pushing the fix now"

start_gui --nick alice --connect
person erin 6                    # comes online while alice watches: a live "joined" line
sleep 1
say 6 "hi all, first day here 👋"
say 3 "welcome erin!"
say 5 "does anyone have the link to the lab notes?"
say 4 "they're on the shared drive under week-3"
say 5 "found them, thanks 👍"
# alice answers from the GUI (the cursor is in the message box after login).
xdotool type --delay 20 "hi everyone, joining the standup in a minute"
xdotool key Return
sleep 0.5
say 3 "see you there"
shot room

# --- 3. a private tab -----------------------------------------------------------------------
say 3 "/msg alice got a minute after standup? the relay numbers look odd"
say 3 "/msg alice loss is fine but RTT doubles past 20 Mbit/s"
sleep 0.5
xdotool key ctrl+Next           # Ctrl+PageDown: next tab (bob's)
sleep 0.5
xdotool type --delay 20 "sure — probably queueing at the bottleneck; send me the capture?"
xdotool key Return
sleep 0.5
say 3 "/msg alice on its way"
say 4 "lunch at 12:30, anyone?"    # a public message: the lobby tab gets a badge
shot private

stop_gui

# --- 4. a download in progress, its inspector open -----------------------------------------
# Through a relay with a 16 Mbit/s bottleneck, 40 ms RTT and a little random loss: the 48 MiB
# download takes about half a minute, so it is under way (about halfway) when the picture is
# taken some 13 s in. The server is the download's sender, so the inspector plots the server's
# RTT, congestion window and losses, from the figures it reports about every 250 ms. (Its
# BBR keeps the window flat through random loss, bar the ProbeRTT dip about 10 s in.)
"$BIN" relay --listen 127.0.0.1:0 --to "$ADDR" --link rate=16mbit,rtt=40ms,loss=0.3%,queue=1bdp \
    >"$WORK/relay.out" 2>"$WORK/relay.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/relay.out" 2>/dev/null && break; sleep 0.1; done
RELAY=$(sed -n 's/^confab relay listening on \([^ ]*\).*/\1/p' "$WORK/relay.out")
[[ -n $RELAY ]] || { log "the relay did not start"; cat "$WORK/relay.log" >&2; exit 1; }
start_gui --server "$RELAY" --nick alice --connect
sleep 1
xdotool mousemove $FILES_TAB click 1          # the Files switch at the top of the right panel
sleep 0.5
xdotool mousemove $SLIDES_DOWNLOAD click 1    # Download lecture-slides.pdf (second in the list)
sleep 0.7
xdotool key Return                            # the save dialog: keep its folder and name
sleep 1.5
xdotool mousemove $DETAILS click 1            # open the download's inspector
sleep 10                                      # ten seconds of history in the plots
xdotool mousemove 400 300                     # no tooltip in the picture
shot transfer
# The picture must show it under way: partial file there, finished file not yet.
if [[ ! -e $WORK/downloads/lecture-slides.pdf.part || -e $WORK/downloads/lecture-slides.pdf ]]; then
    log "the download was not in progress when the picture was taken"
    exit 1
fi

stop_gui
log "done"
