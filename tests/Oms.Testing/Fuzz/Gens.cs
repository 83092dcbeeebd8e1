using CsCheck;

namespace Oms.Testing.Fuzz;

/// <summary>
/// Choice among generators. CsCheck's Gen.OneOf and Gen.Frequency also have overloads for constants, and C# prefers
/// those when given Gen&lt;T&gt; values (it would generate the generators themselves); these always pick the generator overloads.
/// </summary>
public static class Gens
{
    public static Gen<T> OneOf<T>(params Gen<T>[] gens) => Gen.OneOf(gens.Cast<IGen<T>>().ToArray());

    public static Gen<T> Frequency<T>(params (int Weight, Gen<T> Gen)[] gens) =>
        Gen.Frequency(gens.Select(g => (g.Weight, (IGen<T>)g.Gen)).ToArray());
}
