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
#endif
