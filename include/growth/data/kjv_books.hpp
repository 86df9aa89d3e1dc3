#pragma once
/// @file kjv_books.hpp
/// The 66 books of the King James Version in canonical order with their public verse counts (the standard
/// KJV versification: 23,145 Old Testament + 7,957 New Testament = 31,102 verses). data/kjv.txt has one
/// verse per line with no book headings (data/README.md), so these counts are what identifies the book of
/// line i: the first 1,533 lines are Genesis, the next 1,213 Exodus, and so on. The downstream tasks
/// (classification_tasks.hpp) derive their labels from this table.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace growth::data {

struct kjv_book {
  std::string_view name;
  std::size_t verses;
};

/// Books 0..38 are the Old Testament, 39..65 the New Testament.
inline constexpr std::size_t kjv_old_testament_books = 39;
inline constexpr std::size_t kjv_verse_count = 31102;

inline const std::array<kjv_book, 66>& kjv_books() {
  static constexpr std::array<kjv_book, 66> books{{
      {"Genesis", 1533},
      {"Exodus", 1213},
      {"Leviticus", 859},
      {"Numbers", 1288},
      {"Deuteronomy", 959},
      {"Joshua", 658},
      {"Judges", 618},
      {"Ruth", 85},
      {"1 Samuel", 810},
      {"2 Samuel", 695},
      {"1 Kings", 816},
      {"2 Kings", 719},
      {"1 Chronicles", 942},
      {"2 Chronicles", 822},
      {"Ezra", 280},
      {"Nehemiah", 406},
      {"Esther", 167},
      {"Job", 1070},
      {"Psalms", 2461},
      {"Proverbs", 915},
      {"Ecclesiastes", 222},
      {"Song of Solomon", 117},
      {"Isaiah", 1292},
      {"Jeremiah", 1364},
      {"Lamentations", 154},
      {"Ezekiel", 1273},
      {"Daniel", 357},
      {"Hosea", 197},
      {"Joel", 73},
      {"Amos", 146},
      {"Obadiah", 21},
      {"Jonah", 48},
      {"Micah", 105},
      {"Nahum", 47},
      {"Habakkuk", 56},
      {"Zephaniah", 53},
      {"Haggai", 38},
      {"Zechariah", 211},
      {"Malachi", 55},
      {"Matthew", 1071},
      {"Mark", 678},
      {"Luke", 1151},
      {"John", 879},
      {"Acts", 1007},
      {"Romans", 433},
      {"1 Corinthians", 437},
      {"2 Corinthians", 257},
      {"Galatians", 149},
      {"Ephesians", 155},
      {"Philippians", 104},
      {"Colossians", 95},
      {"1 Thessalonians", 89},
      {"2 Thessalonians", 47},
      {"1 Timothy", 113},
      {"2 Timothy", 83},
      {"Titus", 46},
      {"Philemon", 25},
      {"Hebrews", 303},
      {"James", 108},
      {"1 Peter", 105},
      {"2 Peter", 61},
      {"1 John", 105},
      {"2 John", 13},
      {"3 John", 14},
      {"Jude", 25},
      {"Revelation", 404}}};
  return books;
}

/// The book (0..65) of every verse line of a corpus with kjv_verse_count lines; throws growth::error when
/// the corpus has another number of verses (the table would then not identify the books).
inline std::vector<std::size_t> kjv_book_of_lines(std::size_t lines) {
  if (lines != kjv_verse_count)
    throw error("corpus", std::to_string(kjv_verse_count) + " verse lines (data/kjv.txt: the KJV verse counts identify the books)",
                std::to_string(lines) + " lines");
  std::vector<std::size_t> book;
  book.reserve(lines);
  for (std::size_t b = 0; b < kjv_books().size(); ++b) book.insert(book.end(), kjv_books()[b].verses, b);
  return book;
}

}  // namespace growth::data
