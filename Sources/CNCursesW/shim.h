#ifndef CNCURSESW_SHIM_H
#define CNCURSESW_SHIM_H
// SwiftPM drops -D_XOPEN_SOURCE from pkg-config, which hides the wide-character API.
#define NCURSES_WIDECHAR 1
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <curses.h>

// Macros and globals Swift cannot import directly.
static inline WINDOW *ecg_stdscr(void) { return stdscr; }
static inline int ecg_colors(void) { return COLORS; }
static inline int ecg_color_pairs(void) { return COLOR_PAIRS; }
static inline int ecg_lines(void) { return LINES; }
static inline int ecg_cols(void) { return COLS; }
static inline attr_t ecg_a_bold(void) { return A_BOLD; }
static inline attr_t ecg_a_dim(void) { return A_DIM; }
static inline attr_t ecg_a_reverse(void) { return A_REVERSE; }
static inline attr_t ecg_a_underline(void) { return A_UNDERLINE; }
static inline int ecg_key_f(int n) { return KEY_F(n); }
static inline mmask_t ecg_all_mouse_events(void) { return ALL_MOUSE_EVENTS | REPORT_MOUSE_POSITION; }
static inline mmask_t ecg_button1_clicked(void) { return BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_RELEASED; }

// --- Workstation helpers: keep the cchar_t / wint_t / mouse plumbing on the C side. ---
#include <wchar.h>
#include <string.h>
static inline int ecg_key_up(void) { return KEY_UP; }
static inline int ecg_key_down(void) { return KEY_DOWN; }
static inline int ecg_key_left(void) { return KEY_LEFT; }
static inline int ecg_key_right(void) { return KEY_RIGHT; }
static inline int ecg_key_ppage(void) { return KEY_PPAGE; }
static inline int ecg_key_npage(void) { return KEY_NPAGE; }
static inline int ecg_key_home(void) { return KEY_HOME; }
static inline int ecg_key_end(void) { return KEY_END; }
static inline int ecg_key_enter(void) { return KEY_ENTER; }
static inline int ecg_key_backspace(void) { return KEY_BACKSPACE; }
static inline int ecg_key_dc(void) { return KEY_DC; }
static inline int ecg_key_btab(void) { return KEY_BTAB; }
static inline int ecg_key_resize(void) { return KEY_RESIZE; }
static inline int ecg_key_mouse(void) { return KEY_MOUSE; }

/// Starts curses for the workstation with terminfo entry `term` (NULL = $TERM). Returns 0 on success.
static inline int ecg_start_term(const char *term, int want_colour) {
    setlocale(LC_ALL, "");
    if (term == NULL || newterm(term, stdout, stdin) == NULL) {
        if (initscr() == NULL) return -1;
    }
    raw(); noecho(); nonl();  /* raw: Ctrl-C arrives as a key (quit cleanly), not SIGINT leaving the terminal in curses mode */
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (want_colour && has_colors()) { start_color(); use_default_colors(); }
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
    return 0;
}

static inline int ecg_start(int want_colour) { return ecg_start_term(NULL, want_colour); }

/// Repaint rows y ..< y+n from scratch on the next refresh (they were drawn over with sixel pixels).
static inline void ecg_redraw_rows(int y, int n) { wredrawln(stdscr, y, n); }
/// Curses must not shift characters sideways (insert/delete char): it would drag image pixels along.
static inline void ecg_no_character_shifting(void) { idcok(stdscr, FALSE); idlok(stdscr, FALSE); }

/// Writes one cell: codepoint with attributes and colour pair (extended pairs via the opts pointer).
static inline int ecg_put_cell(int y, int x, unsigned int codepoint, attr_t attrs, int pair) {
    cchar_t cc;
    wchar_t w[2] = { (wchar_t)codepoint, 0 };
    int p = pair;
    if (setcchar(&cc, w, attrs, (short)(pair > 32767 ? 0 : pair), &p) != OK) return ERR;
    return mvadd_wch(y, x, &cc);
}

/// Reads one key with a timeout in ms. Returns ERR on timeout, OK for a character, KEY_CODE_YES
/// for a function key; the code is in *value.
static inline int ecg_read_key(int timeout_ms, unsigned int *value) {
    wint_t ch = 0;
    wtimeout(stdscr, timeout_ms);
    int r = wget_wch(stdscr, &ch);
    *value = (unsigned int)ch;
    return r;
}

/// Last mouse event: x, y and 1 = left click, 4 = wheel up, 5 = wheel down, 0 = other.
static inline int ecg_read_mouse(int *x, int *y, int *button) {
    MEVENT ev;
    if (getmouse(&ev) != OK) return ERR;
    *x = ev.x; *y = ev.y;
    if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) *button = 1;
    else if (ev.bstate & BUTTON4_PRESSED) *button = 4;
#ifdef BUTTON5_PRESSED
    else if (ev.bstate & BUTTON5_PRESSED) *button = 5;
#endif
    else *button = 0;
    return OK;
}
#endif
