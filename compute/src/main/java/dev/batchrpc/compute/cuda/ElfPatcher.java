package dev.batchrpc.compute.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Reads and renames the dependencies of a 64-bit little-endian ELF shared library in memory.
 *
 * <p>Why: JCuda 12.6.0's {@code libJCublas2} needs {@code libcublas.so.12} and binds its symbols
 * with the version {@code libcublas.so.12}; a CUDA 13 machine has {@code libcublas.so.13}, whose
 * symbols carry the version {@code libcublas.so.13} and keep the same C API for what JCublas2
 * calls. Renaming the needed library (DT_NEEDED), the version-needs file name ({@code vn_file})
 * and the needed version ({@code vna_name}, with its ELF hash {@code vna_hash}) is a same-length
 * byte edit of {@code .dynstr} plus one 32-bit hash per renamed version, so no section moves.
 *
 * <p>Invariant kept by {@link #renameDependency}: only the bytes of the renamed string and the
 * hashes change; it refuses (with {@link IllegalArgumentException}) when another dynamic string
 * shares bytes with the renamed one (tail merging), since those would change too.
 */
public final class ElfPatcher {

  private static final int SHT_DYNSYM = 11;
  private static final int SHT_DYNAMIC = 6;
  private static final int SHT_GNU_VERNEED = 0x6ffffffe;
  private static final long DT_NULL = 0;
  private static final long DT_NEEDED = 1;
  private static final long DT_SONAME = 14;
  private static final long DT_RPATH = 15;
  private static final long DT_RUNPATH = 29;

  private ElfPatcher() {
  }

  /** One needed version ({@code Elf64_Vernaux}): its name, its hash as stored, its index. */
  public record VersionAux(String name, long hash, int other) {
  }

  /** One version-needs entry ({@code Elf64_Verneed}): the file and the versions needed from it. */
  public record VersionNeed(String file, List<VersionAux> versions) {
  }

  /** What {@link #read} found: DT_NEEDED names in order, and the version needs. */
  public record DynamicInfo(List<String> needed, List<VersionNeed> versionNeeds) {
  }

  /**
   * The System V ELF hash of a symbol or version name (the {@code vna_hash} field).
   *
   * <pre>h = (h &lt;&lt; 4) + c; g = h &amp; 0xf0000000; if (g != 0) h ^= g &gt;&gt; 24; h &amp;= ~g</pre>
   */
  public static long elfHash(String name) {
    long h = 0;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = ((h << 4) + (b & 0xff)) & 0xffffffffL;
      long g = h & 0xf0000000L;
      if (g != 0) {
        h ^= g >>> 24;
      }
      h &= ~g & 0xffffffffL;
    }
    return h;
  }

  /** Parses the dynamic section and the version needs of {@code elf}. */
  public static DynamicInfo read(byte[] elf) {
    Layout l = Layout.parse(elf);
    List<String> needed = new ArrayList<>();
    for (long[] e : l.dynamicEntries()) {
      if (e[0] == DT_NEEDED) {
        needed.add(l.dynString((int) e[1]));
      }
    }
    List<VersionNeed> needs = new ArrayList<>();
    for (VerneedRec vn : l.verneeds()) {
      List<VersionAux> aux = new ArrayList<>();
      for (VernauxRec a : vn.aux) {
        aux.add(new VersionAux(l.dynString(a.nameOff), a.hash, a.other));
      }
      needs.add(new VersionNeed(l.dynString(vn.fileOff), List.copyOf(aux)));
    }
    return new DynamicInfo(List.copyOf(needed), List.copyOf(needs));
  }

  /**
   * A copy of {@code elf} in which the dependency {@code from} is renamed {@code to} everywhere the
   * dynamic linker looks: DT_NEEDED, the version-needs file name, and the needed version name
   * (whose hash is recomputed). The input array is not modified.
   *
   * @throws IllegalArgumentException if the names differ in length, {@code from} is not a
   *     DT_NEEDED entry, or the string shares bytes with another dynamic string
   */
  public static byte[] renameDependency(byte[] elf, String from, String to) {
    byte[] fromBytes = from.getBytes(StandardCharsets.UTF_8);
    byte[] toBytes = to.getBytes(StandardCharsets.UTF_8);
    if (fromBytes.length != toBytes.length) {
      throw new IllegalArgumentException("renameDependency needs names of equal length, got '"
          + from + "' (" + fromBytes.length + " bytes) and '" + to + "' (" + toBytes.length
          + " bytes)");
    }
    Layout l = Layout.parse(elf);
    TreeSet<Integer> targets = new TreeSet<>();
    TreeSet<Integer> others = new TreeSet<>();
    for (long[] e : l.dynamicEntries()) {
      if (e[0] == DT_NEEDED || e[0] == DT_SONAME || e[0] == DT_RPATH || e[0] == DT_RUNPATH) {
        int off = (int) e[1];
        (e[0] == DT_NEEDED && l.dynString(off).equals(from) ? targets : others).add(off);
      }
    }
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("'" + from + "' is not a needed library of this ELF file;"
          + " it needs " + read(elf).needed());
    }
    List<VernauxRec> renamedAux = new ArrayList<>();
    for (VerneedRec vn : l.verneeds()) {
      (l.dynString(vn.fileOff).equals(from) ? targets : others).add(vn.fileOff);
      for (VernauxRec a : vn.aux) {
        if (l.dynString(a.nameOff).equals(from)) {
          targets.add(a.nameOff);
          renamedAux.add(a);
        } else {
          others.add(a.nameOff);
        }
      }
    }
    others.addAll(l.dynsymNameOffsets());
    others.removeAll(targets);
    for (int off : targets) {
      if (off > 0 && elf[l.dynstrOff + off - 1] != 0) {
        throw new IllegalArgumentException("'" + from + "' at .dynstr+" + off
            + " is the tail of a longer string; refusing to rename it");
      }
      Integer inside = others.higher(off);
      if (inside != null && inside < off + fromBytes.length) {
        throw new IllegalArgumentException("'" + from + "' at .dynstr+" + off
            + " shares bytes with the string at .dynstr+" + inside + " ('"
            + l.dynString(inside) + "'); refusing to rename it");
      }
    }
    byte[] copy = elf.clone();
    for (int off : targets) {
      System.arraycopy(toBytes, 0, copy, l.dynstrOff + off, toBytes.length);
    }
    ByteBuffer out = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
    int newHash = (int) elfHash(to);
    for (VernauxRec a : renamedAux) {
      out.putInt(a.recordOff, newHash);
    }
    return copy;
  }

  // ---- parsing ------------------------------------------------------------------------------

  private record VernauxRec(int recordOff, long hash, int other, int nameOff) {
  }

  private record VerneedRec(int fileOff, List<VernauxRec> aux) {
  }

  /** Section-header view of the parts we need; all offsets are file offsets. */
  private static final class Layout {
    final byte[] elf;
    final ByteBuffer buf;
    int dynamicOff = -1;
    int dynamicSize;
    int dynstrOff = -1;
    int dynstrSize;
    int verneedOff = -1;
    int verneedCount;
    int dynsymOff = -1;
    int dynsymSize;

    private Layout(byte[] elf) {
      this.elf = elf;
      this.buf = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
    }

    static Layout parse(byte[] elf) {
      if (elf.length < 64 || elf[0] != 0x7f || elf[1] != 'E' || elf[2] != 'L' || elf[3] != 'F') {
        throw new IllegalArgumentException("not an ELF file (" + elf.length + " bytes)");
      }
      if (elf[4] != 2 || elf[5] != 1) {
        throw new IllegalArgumentException("only 64-bit little-endian ELF is supported, got class "
            + elf[4] + " data " + elf[5]);
      }
      Layout l = new Layout(elf);
      long shoff = l.buf.getLong(0x28);
      int shentsize = l.buf.getShort(0x3A) & 0xffff;
      int shnum = l.buf.getShort(0x3C) & 0xffff;
      if (shoff <= 0 || shoff + (long) shentsize * shnum > elf.length || shentsize < 64) {
        throw new IllegalArgumentException("ELF section headers out of range: shoff=" + shoff
            + " shentsize=" + shentsize + " shnum=" + shnum + " file=" + elf.length);
      }
      for (int i = 0; i < shnum; i++) {
        int h = (int) shoff + i * shentsize;
        int type = l.buf.getInt(h + 4);
        int off = l.checkedInt(l.buf.getLong(h + 24));
        int size = l.checkedInt(l.buf.getLong(h + 32));
        int link = l.buf.getInt(h + 40);
        int info = l.buf.getInt(h + 44);
        if (type == SHT_DYNAMIC) {
          l.dynamicOff = off;
          l.dynamicSize = size;
          int sh = (int) shoff + link * shentsize;
          l.dynstrOff = l.checkedInt(l.buf.getLong(sh + 24));
          l.dynstrSize = l.checkedInt(l.buf.getLong(sh + 32));
        } else if (type == SHT_GNU_VERNEED) {
          l.verneedOff = off;
          l.verneedCount = info;
        } else if (type == SHT_DYNSYM) {
          l.dynsymOff = off;
          l.dynsymSize = size;
        }
      }
      if (l.dynamicOff < 0) {
        throw new IllegalArgumentException("ELF file has no dynamic section");
      }
      return l;
    }

    int checkedInt(long v) {
      if (v < 0 || v > elf.length) {
        throw new IllegalArgumentException("ELF offset/size " + v + " outside the file of "
            + elf.length + " bytes");
      }
      return (int) v;
    }

    String dynString(int off) {
      if (off < 0 || off >= dynstrSize) {
        throw new IllegalArgumentException("string offset " + off + " outside .dynstr of "
            + dynstrSize + " bytes");
      }
      int start = dynstrOff + off;
      int end = start;
      while (end < dynstrOff + dynstrSize && elf[end] != 0) {
        end++;
      }
      return new String(elf, start, end - start, StandardCharsets.UTF_8);
    }

    List<long[]> dynamicEntries() {
      List<long[]> out = new ArrayList<>();
      for (int p = dynamicOff; p + 16 <= dynamicOff + dynamicSize; p += 16) {
        long tag = buf.getLong(p);
        if (tag == DT_NULL) {
          break;
        }
        out.add(new long[] {tag, buf.getLong(p + 8)});
      }
      return out;
    }

    List<VerneedRec> verneeds() {
      List<VerneedRec> out = new ArrayList<>();
      if (verneedOff < 0) {
        return out;
      }
      int p = verneedOff;
      for (int i = 0; i < verneedCount; i++) {
        int cnt = buf.getShort(p + 2) & 0xffff;
        int file = buf.getInt(p + 4);
        int auxRel = buf.getInt(p + 8);
        int next = buf.getInt(p + 12);
        List<VernauxRec> aux = new ArrayList<>();
        int a = p + auxRel;
        for (int j = 0; j < cnt; j++) {
          long hash = buf.getInt(a) & 0xffffffffL;
          int other = buf.getShort(a + 6) & 0xffff;
          int name = buf.getInt(a + 8);
          aux.add(new VernauxRec(a, hash, other, name));
          int an = buf.getInt(a + 12);
          if (an == 0) {
            break;
          }
          a += an;
        }
        out.add(new VerneedRec(file, aux));
        if (next == 0) {
          break;
        }
        p += next;
      }
      return out;
    }

    List<Integer> dynsymNameOffsets() {
      List<Integer> out = new ArrayList<>();
      if (dynsymOff < 0) {
        return out;
      }
      for (int p = dynsymOff; p + 24 <= dynsymOff + dynsymSize; p += 24) {
        out.add(buf.getInt(p));
      }
      return out;
    }
  }
}
